package jwtextended

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// The subcommands build their app through App.build, as Provision does, so
// a setting that changes verification changes `caddy jwt decode` too: a
// token that expired 30 seconds ago is refused without leeway and
// verified with `leeway 1m`, by decode and by a provisioned app alike.
func TestDecodeBuildsLikeProvision(t *testing.T) {
	t.Parallel()
	secret := string(testkit.Secret(32))
	now := time.Now()
	raw := testkit.SignToken(t, "HS256", []byte(secret), nil, map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": "j1",
		"iat": now.Add(-10 * time.Minute).Unix(), "nbf": now.Add(-10 * time.Minute).Unix(),
		"exp": now.Add(-30 * time.Second).Unix(),
	})
	for _, tc := range []struct {
		leeway   string
		verified bool
	}{{"", false}, {"leeway 1m", true}} {
		dir := t.TempDir()
		caddyfile := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(caddyfile, []byte("{\n\tstorage file_system "+filepath.Join(dir, "data")+"\n\tjwt {\n\t\tsecret "+secret+"\n\t\t"+tc.leeway+"\n\t}\n}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		_, err := decode(&out, caddyfile, "caddyfile", raw)
		if got := strings.HasPrefix(out.String(), "token verified"); got != tc.verified || (err == nil) != tc.verified {
			t.Fatalf("%q: decode verified=%v err=%v, want verified=%v:\n%s", tc.leeway, got, err, tc.verified, out.String())
		}

		appJSON := `{"secret":` + string(mustJSON(t, secret)) + `}`
		if tc.leeway != "" {
			appJSON = `{"secret":` + string(mustJSON(t, secret)) + `,"leeway":60000000000}`
		}
		_, app, err := provisionTestApp(t, []byte(appJSON), "")
		if err != nil {
			t.Fatal(err)
		}
		_, e := app.newAuthenticator(nil, nil).verify(raw)
		if (e == nil) != tc.verified {
			t.Fatalf("%q: provisioned app verified=%v (%v), want %v", tc.leeway, e == nil, e, tc.verified)
		}
	}
}

// A login right after its identity was revoked waits until the clock has
// left the revocation's second, and no longer than its request lives.
func TestMintWaitEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	_, app, err := provisionTestApp(t, []byte(`{"secret":`+string(mustJSON(t, string(testkit.Secret(32))))+`}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.revoked.revokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	before, ok := app.revoked.identityRevokedBefore("alice")
	if !ok {
		t.Fatal("identity not revoked")
	}
	// the clock stands half a second into the revocation's second
	app.now = func() time.Time { return time.Unix(before, int64(500*time.Millisecond)) }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := app.mint(ctx, token.Request{Type: token.TypeAccess, Identity: "alice"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("mint with a cancelled request: %v, want context.Canceled", err)
	}
	// another identity is not held up, even with the request gone
	if _, err := app.mint(ctx, token.Request{Type: token.TypeAccess, Identity: "bob"}); err != nil {
		t.Fatal(err)
	}
}

// decode cannot say "not revoked" when it could not read the revocations:
// a valid token then exits 1, naming why.
func TestDecodeStorageUnreadable(t *testing.T) {
	t.Parallel()
	secret := string(testkit.Secret(32))
	now := time.Now().Unix()
	raw := testkit.SignToken(t, "HS256", []byte(secret), nil, map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": "j1", "iat": now, "nbf": now, "exp": now + 600})
	dir := t.TempDir()
	notADir := filepath.Join(dir, "storage")
	if err := os.WriteFile(notADir, []byte("a file, not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	caddyfile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte("{\n\tstorage file_system "+notADir+"\n\tjwt {\n\t\tsecret "+secret+"\n\t}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	status, err := decode(&out, caddyfile, "caddyfile", raw)
	if status != decodeRefused || err == nil || !strings.Contains(err.Error(), "revocation could not be checked") ||
		!strings.Contains(out.String(), "token verified") || !strings.Contains(out.String(), "revocation: not checked (reading storage") {
		t.Fatalf("status %d, err %v:\n%s", status, err, out.String())
	}
}
