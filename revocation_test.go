package jwtextended

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func revTestApp(clock *testkit.Clock) *App {
	return &App{
		now:        clock.Now,
		AccessTTL:  caddy.Duration(15 * time.Minute),
		RefreshTTL: caddy.Duration(720 * time.Hour),
	}
}

// revTestOpen opens a store the way Provision does and leaves it at the
// end of the test.
func revTestOpen(t *testing.T, s certmagic.Storage, a *App, logger *zap.Logger) *storageRevocations {
	t.Helper()
	r, err := newStorageRevocations(s, a, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.attach(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.release)
	return r
}

func revTestStoredNames(t *testing.T, dir string) []string { return testkit.RevocationFiles(t, dir) }

func TestRevocationReloadOverlapSharesOneSet(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	// two configs on the same file_system folder, as a reload provisions:
	// distinct storage values of the same identity
	oldApp := revTestOpen(t, &certmagic.FileStorage{Path: dir}, revTestApp(clock), nil)
	if err := oldApp.start(); err != nil {
		t.Fatal(err)
	}
	if err := oldApp.revoke(context.Background(), "before-reload", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	newApp := revTestOpen(t, &certmagic.FileStorage{Path: dir}, revTestApp(clock), nil)
	if oldApp.store.Set() != newApp.store.Set() {
		t.Fatal("the old and the new App of a reload do not share their set")
	}
	if n, _ := revocationSets.References(oldApp.poolKey); n != 2 {
		t.Fatalf("pool references %d, want 2", n)
	}
	// during the overlap a revocation on either is seen by both at once
	if err := oldApp.revoke(context.Background(), "on-old", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := newApp.revoke(context.Background(), "on-new", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"before-reload", "on-old", "on-new"} {
		if !oldApp.isRevoked(id) || !newApp.isRevoked(id) {
			t.Fatalf("%s not refused by both Apps during the overlap", id)
		}
	}
	// the old config is unloaded: the new one keeps the set
	oldApp.release()
	oldApp.release() // idempotent
	if n, _ := revocationSets.References(newApp.poolKey); n != 1 {
		t.Fatalf("pool references %d after the old App left, want 1", n)
	}
	if !newApp.isRevoked("on-old") {
		t.Fatal("the new App lost a revocation when the old one stopped")
	}
	// the last one leaves: the set is gone (a restart), and a new start
	// loads everything from storage before serving
	newApp.release()
	if _, ok := revocationSets.References(newApp.poolKey); ok {
		t.Fatal("the set outlived its last App")
	}
	restarted := revTestOpen(t, &certmagic.FileStorage{Path: dir}, revTestApp(clock), nil)
	if restarted.store.Set() == newApp.store.Set() {
		t.Fatal("restart reused the old set")
	}
	for _, id := range []string{"before-reload", "on-old", "on-new"} {
		if !restarted.isRevoked(id) {
			t.Fatalf("%s not refused after a restart, before any sync", id)
		}
	}
}

func TestRevocationPoolKey(t *testing.T) {
	a := revocationPoolKey(&certmagic.FileStorage{Path: "/x/y"})
	b := revocationPoolKey(&certmagic.FileStorage{Path: "/x/y"})
	c := revocationPoolKey(&certmagic.FileStorage{Path: "/x/z"})
	if a != b || a == c {
		t.Fatalf("file storage identity: %s %s %s", a, b, c)
	}
	type revTestConfigStorage struct {
		certmagic.Storage `json:"-"`
		Address           string `json:"address"`
		Password          string `json:"password"`
	}
	d := revocationPoolKey(&revTestConfigStorage{Address: "10.0.0.1:6379", Password: "hunter2"})
	e := revocationPoolKey(&revTestConfigStorage{Address: "10.0.0.1:6379", Password: "hunter2"})
	f := revocationPoolKey(&revTestConfigStorage{Address: "10.0.0.2:6379", Password: "hunter2"})
	if d != e || d == f {
		t.Fatalf("configured storage identity: %s %s %s", d, e, f)
	}
	if strings.Contains(d, "hunter2") || strings.Contains(d, "10.0.0.1") {
		t.Fatalf("the pool key shows the storage configuration: %s", d)
	}
}

// TestRevocationThroughApp provisions the jwt app on a real file_system
// storage the way Caddy does, and checks that authenticate refuses a
// revoked token with the contract's error, also in a second config (a
// reload) on the same storage.
func TestRevocationThroughApp(t *testing.T) {
	dir := t.TempDir()
	secret := []byte("revocation-test-secret-0123456789abcdef")
	provision := func() *App {
		t.Helper()
		_, app, err := provisionTestApp(t, mustJSON(t, map[string]any{"secret": string(secret)}), dir)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	first := provision()
	now := time.Now()
	tok := signToken(t, "HS256", secret, nil, map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": "app-jti-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	req := func() *authError {
		r := revTestRequest(tok)
		_, e := first.authenticate(r, first.sources, accessCookieName, token.TypeAccess)
		return e
	}
	if e := req(); e != nil {
		t.Fatalf("valid token refused: %v", e)
	}
	if err := first.revoked.revoke(context.Background(), "app-jti-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e := req(); e != errRevoked {
		t.Fatalf("revoked token: got %v, want %v", e, errRevoked)
	}
	second := provision()
	r := revTestRequest(tok)
	if _, e := second.authenticate(r, second.sources, accessCookieName, token.TypeAccess); e != errRevoked {
		t.Fatalf("a second config on the same storage: got %v, want %v", e, errRevoked)
	}
	if len(revTestStoredNames(t, dir)) != 1 {
		t.Fatal("the revocation is not in the configured storage")
	}
}

func revTestRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// TestRevocationFailedStartLeavesNoSet: a storage that cannot be read at
// start refuses the config and leaves nothing in the pool, so the next
// try loads again. (The retries themselves are tested in
// internal/revocation.)
func TestRevocationFailedStartLeavesNoSet(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the startup retries (about 8s)")
	}
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	dead := testkit.NewStorage(t, t.TempDir(), "dead")
	dead.FailList = errors.New("connection refused")
	r, err := newStorageRevocations(dead, revTestApp(clock), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = r.attach()
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("start on dead storage: %v", err)
	}
	if _, ok := revocationSets.References(r.poolKey); ok {
		t.Fatal("a failed start left a set in the pool")
	}
}

// TestRevocationSettingsFromApp: the App's settings reach the store:
// revocation_sync (checked and warned about), leeway (how long past exp an
// entry is kept) and the token lifetimes (the retention of an id revoked
// without an expiry).
func TestRevocationSettingsFromApp(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := &certmagic.FileStorage{Path: t.TempDir()}
	app := revTestApp(clock)
	app.RevocationSync = caddy.Duration(10 * time.Millisecond)
	if _, err := newStorageRevocations(s, app, nil); err == nil || !strings.Contains(err.Error(), "revocation_sync") {
		t.Fatalf("a 10ms interval: %v", err)
	}
	app.RevocationSync = caddy.Duration(-time.Second)
	if _, err := newStorageRevocations(s, app, nil); err == nil {
		t.Fatal("a negative interval was accepted")
	}
	app.RevocationSync = caddy.Duration(time.Minute)
	logger, logs := revTestLogs()
	if _, err := newStorageRevocations(s, app, logger); err != nil {
		t.Fatal(err)
	}
	if logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("longer than 5s").Len() != 1 {
		t.Fatal("an interval beyond the contract's bound was not warned about")
	}

	dir := t.TempDir()
	app = revTestApp(clock)
	app.Leeway = caddy.Duration(30 * time.Second)
	r := revTestOpen(t, testkit.NewStorage(t, dir, "a"), app, nil)
	// no exp: kept for the longest token lifetime (refresh_ttl here)
	if err := r.revoke(context.Background(), "no-exp", time.Time{}); err != nil {
		t.Fatal(err)
	}
	// expired, but within leeway + grace: still stored
	if err := r.revoke(context.Background(), "recent", clock.Now().Add(-80*time.Second)); err != nil {
		t.Fatal(err)
	}
	// expired beyond leeway + grace: not stored
	if err := r.revoke(context.Background(), "ancient", clock.Now().Add(-100*time.Second)); err != nil {
		t.Fatal(err)
	}
	var exps []string
	for _, n := range revTestStoredNames(t, dir) {
		exps = append(exps, n[strings.IndexByte(n, '.')+1:])
	}
	sort.Strings(exps)
	want := []string{fmt.Sprint(clock.Now().Add(-80 * time.Second).Unix()), fmt.Sprint(clock.Now().Add(720 * time.Hour).Unix())}
	if !slices.Equal(exps, want) {
		t.Fatalf("stored expiries %q, want %q", exps, want)
	}
}

func revTestLogs() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// The contract's numbers, as the cluster test names them.
const (
	contractRevocationBound = revocation.ContractBound
	defaultRevocationSync   = revocation.DefaultInterval
)
