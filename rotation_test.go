package jwtextended

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Tests of refresh-token rotation's state (issue 12, finding 2): one
// record per family in Caddy's storage, not one revocation per refresh;
// the grace period for concurrent refreshes; reuse detection.

// pastGrace is past the default rotate_grace.
const pastGrace = 11 * time.Second

// rotating is the issuer of these tests: rotate_refresh on, no reauth.
func rotating(h *Issue) {
	h.Reauth = ""
	h.RotateRefresh = true
}

// storedFiles lists the regular files under dir (the storage entries of
// file_system storage), relative to dir.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// foldedFiles lets a minute pass and compacts the revocations of e's
// storage at dir, as the sync loop does every minute (folding its log
// into segments), and lists the files left.
func foldedFiles(t *testing.T, e *fixture, dir string) []string {
	t.Helper()
	e.clock.Advance(time.Minute)
	if st, err := e.revocations().store.Compact(context.Background()); err != nil || !st.Ran {
		t.Fatalf("compaction: %+v %v", st, err)
	}
	return storedFiles(t, dir)
}

// loadedFrom is what a new instance on the storage at dir loads at start
// (each name is an instance: a set of its own).
func loadedFrom(t *testing.T, e *fixture, dir, name string) *revocation.Store {
	t.Helper()
	return openRevocations(t, testkit.NewStorage(t, dir, name), storeApp(t, e.clock, ""), nil).store
}

func bodyString(t *testing.T, body map[string]any, key string) string {
	t.Helper()
	s, _ := body[key].(string)
	return s
}

// Many rotations of one family (rotationCount: 200, 5,000 under -tags
// slow), each past the grace of the last, leave
// O(1) storage entries: the family's one record (and, briefly, the one it
// replaces), not one revocation per rotated token.
func TestRotationStorageStaysConstant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newFixture(t, inStorage(dir), withIssuer(rotating))
	cur := bodyString(t, e.login(), "refresh_token")
	const rotations = rotationCount
	for i := range rotations {
		e.clock.Advance(pastGrace)
		w := e.refresh(cur)
		if w.Code != 200 {
			t.Fatalf("rotation %d: %d %s", i, w.Code, w.Body)
		}
		next := bodyString(t, bodyJSON(t, w), "refresh_token")
		if next == "" || next == cur {
			t.Fatalf("rotation %d: no new refresh token past the grace", i)
		}
		cur = next
	}
	if files := foldedFiles(t, e, dir); len(files) > 3 {
		t.Fatalf("%d rotations of one family left %d storage entries once compacted, want at most 3 (the head, a segment, the log's tip; e.g. %q)", rotations, len(files), files[:min(len(files), 3)])
	}
	// the last generation still works
	e.clock.Advance(pastGrace)
	if w := e.refresh(cur); w.Code != 200 {
		t.Fatalf("the current generation after %d rotations: %d %s", rotations, w.Code, w.Body)
	}
}

// Two tabs refreshing with one token at the same moment keep the session:
// each gets an access token, one of them a new refresh token; the family
// is not revoked, and the next refresh with the new token works.
func TestRotationConcurrentRefreshesKeepSession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newFixture(t, inStorage(dir), withIssuer(rotating))
	login := e.login()
	e.clock.Advance(pastGrace) // the login's token may rotate
	tok := bodyString(t, login, "refresh_token")
	const n = 8
	bodies := make(chan map[string]any, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			w := e.refresh(tok)
			if w.Code != 200 {
				t.Errorf("a concurrent refresh within the grace: %d %s", w.Code, strings.TrimSpace(w.Body.String()))
				return
			}
			var body map[string]any
			body = bodyJSON(t, w)
			bodies <- body
		}()
	}
	close(start)
	wg.Wait()
	close(bodies)
	var next string
	rotated := 0
	for b := range bodies {
		if e.authenticate(bodyString(t, b, "access_token"), token.TypeAccess) != nil {
			t.Error("an access token of a concurrent refresh is refused")
		}
		if r := bodyString(t, b, "refresh_token"); r != "" {
			rotated++
			next = r
		}
	}
	if rotated != 1 {
		t.Fatalf("%d of %d concurrent refreshes rotated, want exactly 1", rotated, n)
	}
	if e.authenticate(bodyString(t, login, "access_token"), token.TypeAccess) != nil {
		t.Fatal("the family was revoked by concurrent refreshes within the grace")
	}
	e.clock.Advance(pastGrace)
	w := e.refresh(next)
	if w.Code != 200 || bodyString(t, bodyJSON(t, w), "refresh_token") == "" {
		t.Fatalf("the next refresh with the current token: %d %s", w.Code, w.Body)
	}
}

// Within the grace, the previous generation (a tab that sent the old
// token at the same moment) and the current one (a refresh loop) get an
// access token only: no new refresh token, and nothing is written.
func TestRotationGraceYieldsAccessOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newFixture(t, inStorage(dir), withIssuer(rotating))
	gen0 := bodyString(t, e.login(), "refresh_token")
	e.clock.Advance(pastGrace)
	w := e.refresh(gen0)
	gen1 := bodyString(t, bodyJSON(t, w), "refresh_token")
	if w.Code != 200 || gen1 == "" {
		t.Fatalf("first rotation: %d %s", w.Code, w.Body)
	}
	before := storedFiles(t, dir)
	for _, c := range []struct{ name, tok string }{{"previous", gen0}, {"current", gen1}} {
		for i := range 50 {
			w := e.refresh(c.tok)
			if w.Code != 200 {
				t.Fatalf("%s generation within the grace (%d): %d %s", c.name, i, w.Code, w.Body)
			}
			body := bodyJSON(t, w)
			if bodyString(t, body, "refresh_token") != "" {
				t.Fatalf("%s generation within the grace got a new refresh token", c.name)
			}
			if e.authenticate(bodyString(t, body, "access_token"), token.TypeAccess) != nil {
				t.Fatalf("%s generation within the grace: the access token is refused", c.name)
			}
		}
	}
	if after := storedFiles(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("refreshes within the grace wrote to storage: %q, then %q", before, after)
	}
	// past the grace, the current generation rotates again
	e.clock.Advance(pastGrace)
	if w := e.refresh(gen1); w.Code != 200 || bodyString(t, bodyJSON(t, w), "refresh_token") == "" {
		t.Fatalf("the current generation past the grace: %d %s", w.Code, w.Body)
	}
}

// The previous generation after the grace, or an older one at any time, is
// reuse: the whole family is refused, access and refresh tokens alike.
func TestRotationReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// replay returns the token to replay, given the generations so far
		replay func(e *fixture, gens []string) string
	}{
		{"previous_after_grace", func(e *fixture, gens []string) string {
			e.clock.Advance(pastGrace)
			return gens[len(gens)-2]
		}},
		{"older_at_once", func(e *fixture, gens []string) string { return gens[0] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newFixture(t, inStorage(t.TempDir()), withIssuer(rotating))
			login := e.login()
			gens := []string{bodyString(t, login, "refresh_token")}
			var access []string
			for range 2 {
				e.clock.Advance(pastGrace)
				w := e.refresh(gens[len(gens)-1])
				body := bodyJSON(t, w)
				gens = append(gens, bodyString(t, body, "refresh_token"))
				access = append(access, bodyString(t, body, "access_token"))
			}
			wantMsg(t, e.refresh(c.replay(e, gens)), 401, "Token has been revoked")
			for i, g := range gens {
				wantMsg(t, e.refresh(g), 401, "Token has been revoked")
				_ = i
			}
			for _, a := range append(access, bodyString(t, login, "access_token")) {
				if e.authenticate(a, token.TypeAccess) != errRevoked {
					t.Fatal("an access token of the family passes after reuse")
				}
			}
			// a new login is a new family
			e.clock.Advance(pastGrace)
			if w := e.refresh(bodyString(t, e.login(), "refresh_token")); w.Code != 200 {
				t.Fatalf("a new login after reuse: %d", w.Code)
			}
		})
	}
}

// The storage bound: entries grow with live families (one record each),
// revoked families (one revocation each) and logouts (the presented jtis),
// never with the number of refreshes.
func TestRotationStorageBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newFixture(t, inStorage(dir), withIssuer(rotating))
	const families, refreshes, loggedOut = 12, 40, 3
	cur := make([]string, families)
	access := make([]string, families)
	for f := range families {
		body := e.login()
		cur[f], access[f] = bodyString(t, body, "refresh_token"), bodyString(t, body, "access_token")
	}
	for range refreshes {
		e.clock.Advance(pastGrace)
		for f := range families {
			w := e.refresh(cur[f])
			body := bodyJSON(t, w)
			if w.Code != 200 || bodyString(t, body, "refresh_token") == "" {
				t.Fatalf("family %d: %d %s", f, w.Code, w.Body)
			}
			cur[f], access[f] = bodyString(t, body, "refresh_token"), bodyString(t, body, "access_token")
		}
	}
	if n := len(foldedFiles(t, e, dir)); n > 3 {
		t.Fatalf("%d families refreshed %d times each: %d storage objects once compacted, want 3 (the head, a segment, the log's tip)", families, refreshes, n)
	}
	if st := loadedFrom(t, e, dir, "after-refreshes"); st.Families() != families || st.Revoked() != 0 {
		t.Fatalf("%d families refreshed %d times each: a start loads %d records and %d revoked ids, want one record per family", families, refreshes, st.Families(), st.Revoked())
	}
	// logouts add the presented access and refresh jtis and the family
	for f := range loggedOut {
		w := e.do(withBearer(jsonPost("/logout", `{"refresh_token": "`+cur[f]+`"}`), access[f]))
		if w.Code != 200 {
			t.Fatalf("logout: %d %s", w.Code, w.Body)
		}
	}
	// the head, the tip, and a segment per hour of expiry and compaction
	// (the families' hour had one from the first compaction already)
	if files := foldedFiles(t, e, dir); len(files) > 5 {
		t.Fatalf("after %d logouts: %d storage objects once compacted, want 5: %q", loggedOut, len(files), files)
	}
	if st := loadedFrom(t, e, dir, "after-logouts"); st.Families() != families || st.Revoked() != 3*loggedOut {
		t.Fatalf("after %d logouts a start loads %d records and %d revoked ids, want %d and %d", loggedOut, st.Families(), st.Revoked(), families, 3*loggedOut)
	}
	// and the memory of every instance: one record per family, the
	// logouts' revocations
	st := e.revocations().store
	if st.Families() != families || st.Revoked() != 3*loggedOut {
		t.Fatalf("memory: %d family records and %d revoked ids, want %d and %d", st.Families(), st.Revoked(), families, 3*loggedOut)
	}
}

// The rotation state survives a restart: the replaced generation is still
// reuse, the current one still refreshes.
func TestRotationStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newFixture(t, inStorage(dir), withIssuer(rotating))
	gen0 := bodyString(t, e.login(), "refresh_token")
	e.clock.Advance(pastGrace)
	gen1 := bodyString(t, bodyJSON(t, e.refresh(gen0)), "refresh_token")
	if err := e.app.Cleanup(); err != nil {
		t.Fatal(err)
	}
	e2 := newFixture(t, inStorage(dir), withIssuer(rotating))
	e2.clock.Set(e.clock.Now().Add(pastGrace))
	if w := e2.refresh(gen1); w.Code != 200 || bodyString(t, bodyJSON(t, w), "refresh_token") == "" {
		t.Fatalf("the current generation after a restart: %d %s", w.Code, w.Body)
	}
	e2.clock.Advance(pastGrace)
	wantMsg(t, e2.refresh(gen0), 401, "Token has been revoked")
}

// A refresh token minted before rotation was turned on (no family) still
// refreshes once; presenting it again past the grace is reuse.
func TestRotationTokenWithoutFamily(t *testing.T) {
	dir := t.TempDir()
	e := newFixture(t, inStorage(dir), withIssuer(rotating))
	old, err := e.app.mint(context.Background(), token.Request{Type: token.TypeRefresh, Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(pastGrace)
	w := e.refresh(old.Raw)
	next := bodyString(t, bodyJSON(t, w), "refresh_token")
	if w.Code != 200 || next == "" {
		t.Fatalf("a refresh token without a family: %d %s", w.Code, w.Body)
	}
	if w := e.refresh(old.Raw); w.Code != 200 {
		t.Fatalf("within the grace: %d %s", w.Code, w.Body)
	}
	e.clock.Advance(pastGrace)
	wantMsg(t, e.refresh(old.Raw), 401, "Token has been revoked")
	wantMsg(t, e.refresh(next), 401, "Token has been revoked")
}

func TestRotationGraceSetting(t *testing.T) {
	var h Issue
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_issue {\n\trotate_refresh\n\trotate_grace 30s\n}")); err != nil {
		t.Fatal(err)
	}
	if d, err := h.RotateGrace.resolve("jwt_issue", "rotate_grace"); err != nil || d != 30*time.Second {
		t.Fatalf("rotate_grace %s (%v)", d, err)
	}
	h = Issue{}
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_issue {\n\trotate_grace {env.ROT_TEST_GRACE}\n}")); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(h)
	if err != nil || !strings.Contains(string(b), `"rotate_grace":"{env.ROT_TEST_GRACE}"`) {
		t.Fatalf("placeholder adapts to %s (%v)", b, err)
	}
	var back Issue
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROT_TEST_GRACE", "3s")
	back.Refresh, back.RotateRefresh = "/refresh", true
	f := newFixture(t)
	if _, err := f.provisionIssue(&back); err != nil {
		t.Fatal(err)
	}
	if back.rotateGrace != 3*time.Second {
		t.Fatalf("resolved rotate_grace %s", back.rotateGrace)
	}
	def, err := f.provisionIssue(Issue{Refresh: "/refresh", RotateRefresh: true})
	if err != nil || def.rotateGrace != 10*time.Second {
		t.Fatalf("default rotate_grace %s (%v)", def.rotateGrace, err)
	}
	if _, err := f.provisionIssue(`{"refresh": "/refresh", "rotate_refresh": true, "rotate_grace": "500ms"}`); err == nil || !strings.Contains(err.Error(), "rotate_grace must be at least 1s") {
		t.Fatalf("rotate_grace 500ms: %v", err)
	}
	for _, bad := range []string{"jwt_issue {\n\trotate_grace\n}", "jwt_issue {\n\trotate_grace soon\n}", "jwt_issue {\n\trotate_grace -1s\n}"} {
		var h Issue
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q adapted", bad)
		}
	}
}
