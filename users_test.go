package jwtextended

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"golang.org/x/crypto/bcrypt"
)

func writeUsersFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// set the mtime explicitly: a rewrite within the file system's
	// timestamp granularity must still be seen (size differs too)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
func TestUsersFileLoadsAndReloads(t *testing.T) {
	t.Parallel()
	hash := passwordHash(t)
	other := testkit.BcryptHash(t, "second")
	path := filepath.Join(t.TempDir(), "users")
	writeUsersFile(t, path, "# users of the test\n\n  alice:"+hash+"  \n", time.Unix(1000, 0))

	e := newFixture(t, withIssuer(func(h *Issue) {
		h.Users = nil
		h.UsersFile = path
		h.Throttle = &ThrottleConfig{Disabled: true}
	}))
	login := func(user, pw string) int {
		return e.do(jsonPost("/login", creds(user, pw))).Code
	}
	if c := login("alice", fixturePassword); c != 200 {
		t.Fatalf("user from users_file: %d", c)
	}

	// change the file: bob added, alice removed
	writeUsersFile(t, path, "bob:"+other+"\n", time.Unix(2000, 0))
	// within the check interval the old users stay (no stat per login)
	e.clock.Advance(time.Second)
	if c := login("alice", fixturePassword); c != 200 {
		t.Errorf("reloaded before the check interval: %d", c)
	}
	e.clock.Advance(users.FileCheckInterval)
	if c := login("bob", "second"); c != 200 {
		t.Errorf("new user not picked up: %d", c)
	}
	if c := login("alice", fixturePassword); c != 401 {
		t.Errorf("removed user still logs in: %d", c)
	}

	// a refresh token of a removed user is refused
	e.clock.Advance(users.FileCheckInterval)
	writeUsersFile(t, path, "alice:"+hash+"\n", time.Unix(3000, 0))
	e.clock.Advance(users.FileCheckInterval)
	refresh := e.login()["refresh_token"].(string)
	writeUsersFile(t, path, "bob:"+other+"\n", time.Unix(4000, 0))
	e.clock.Advance(users.FileCheckInterval)
	w := e.do(withBearer(barePost("/refresh"), refresh))
	wantMsg(t, w, 401, "User not found")

	// a broken file keeps the users that were loaded
	writeUsersFile(t, path, "bob:not-a-hash\n", time.Unix(5000, 0))
	e.clock.Advance(users.FileCheckInterval)
	if c := login("bob", "second"); c != 200 {
		t.Errorf("a broken users_file must keep the previous users: %d", c)
	}
	// a deleted file too
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(users.FileCheckInterval)
	if c := login("bob", "second"); c != 200 {
		t.Errorf("a deleted users_file must keep the previous users: %d", c)
	}
}
func barePost(path string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, path, nil)
	return r
}

// TestUsersUnknownUserTimesLikeWrongPassword is the statistical check: an
// unknown user and a wrong password for a known one take the same time,
// within generous bounds. Samples are interleaved so that load on the
// machine hits both alike; bcrypt cost 8 (~15 ms) keeps it well above
// scheduling noise and still fast.
func TestUsersUnknownUserTimesLikeWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("timing check")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(fixturePassword), 8)
	if err != nil {
		t.Fatal(err)
	}
	e := newFixture(t, withIssuer(func(h *Issue) {
		h.Users = []User{{Name: "alice", Hash: string(hash)}}
		h.Throttle = &ThrottleConfig{Disabled: true}
	}))
	const n = 15
	var unknown, wrong, right []time.Duration
	measure := func(user, pw string, want int) time.Duration {
		start := time.Now()
		w := e.do(jsonPost("/login", creds(user, pw)))
		d := time.Since(start)
		if w.Code != want {
			t.Fatalf("%s: status %d, want %d", user, w.Code, want)
		}
		return d
	}
	for i := 0; i < n; i++ {
		unknown = append(unknown, measure("mallory", "guess", 401))
		wrong = append(wrong, measure("alice", "guess", 401))
		right = append(right, measure("alice", fixturePassword, 200))
	}
	mu, mw, mr := median(unknown), median(wrong), median(right)
	t.Logf("median login time: unknown user %v, wrong password %v, right password %v", mu, mw, mr)
	ratio := float64(mu) / float64(mw)
	if ratio < 1.0/3 || ratio > 3 {
		t.Errorf("unknown user %v vs wrong password %v: ratio %.2f outside [1/3, 3]", mu, mw, ratio)
	}
	// the check must be able to fail: a login that skipped bcrypt for
	// unknown users would be orders of magnitude faster than this bound
	if mw < time.Millisecond {
		t.Errorf("a wrong password took %v: bcrypt at cost 8 cannot be this fast", mw)
	}
}
func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
