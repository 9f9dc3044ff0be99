package jwtextended

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// argon2idHash makes a hash in the form `caddy hash-password --algorithm
// argon2id` writes (PHC), here with golang.org/x/crypto/argon2 directly,
// independently of the code under test; cheap parameters for tests.
func argon2idHash(t *testing.T, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	const time, memory, threads = 1, 8 * 1024, 1
	key := argon2.IDKey([]byte(password), salt, time, memory, threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, time, threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Issue 14, point 2: every hash `caddy hash-password` makes works, in user
// lines and users files: argon2id (its help calls it recommended) as well
// as bcrypt, side by side; a hash of no known form refuses to load.
func TestUsersArgon2id(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("carol:"+argon2idHash(t, "carol-pw")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newFixture(t, withIssuer(func(h *Issue) {
		h.Users = []User{
			{Name: "alice", Hash: argon2idHash(t, "alice-pw")},
			{Name: "bob", Hash: passwordHash(t)}, // bcrypt
		}
		h.UsersFile = file
	}))
	for _, tc := range []struct {
		user, password string
		status         int
	}{
		{"alice", "alice-pw", 200}, {"alice", "wrong", 401},
		{"bob", fixturePassword, 200}, {"bob", "wrong", 401},
		{"carol", "carol-pw", 200}, {"carol", "alice-pw", 401},
		{"nobody", "alice-pw", 401},
		{"alice", strings.Repeat("a", 200), 401}, // no 72-byte limit for argon2id, still wrong
	} {
		w := e.do(jsonPost("/login", creds(tc.user, tc.password)))
		if w.Code != tc.status {
			t.Errorf("%s/%s: %d %s, want %d", tc.user, tc.password, w.Code, w.Body, tc.status)
		}
		if tc.status == 401 {
			wantMsg(t, w, http.StatusUnauthorized, "Bad username or password")
		}
	}

	// a hash of no known form is refused at load, naming the user
	for _, hash := range []string{"plaintext", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=x$c2FsdA$a2V5", "$5$rounds=1000$salt$hash"} {
		_, err := newFixture(t).provisionIssue(&Issue{Login: "/login", Users: []User{{Name: "dave", Hash: hash}}})
		if err == nil || !strings.Contains(err.Error(), `user "dave": the password hash is of no known form (bcrypt or argon2id)`) || !strings.Contains(err.Error(), "caddy hash-password") {
			t.Errorf("hash %q: %v", hash, err)
		}
	}
}
