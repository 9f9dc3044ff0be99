package jwtextended

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// storeApp is the unprovisioned App a revocation store takes its settings
// from: the default token lifetimes, then the fields of extra (JSON), on
// clock.
func storeApp(t *testing.T, clock *testkit.Clock, extra string) *App {
	t.Helper()
	a := new(App)
	if err := json.Unmarshal([]byte(`{"access_ttl": "15m", "refresh_ttl": "720h"}`), a); err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), a); err != nil {
			t.Fatal(err)
		}
	}
	a.now = clock.Now
	return a
}

func TestRevocationReloadOverlapSharesOneSet(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	// two configs on the same file_system folder, as a reload provisions:
	// distinct storage values of the same identity
	oldApp := openRevocations(t, &certmagic.FileStorage{Path: dir}, storeApp(t, clock, ""), nil)
	if err := oldApp.start(); err != nil {
		t.Fatal(err)
	}
	if err := oldApp.revoke(context.Background(), "before-reload", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	newApp := openRevocations(t, &certmagic.FileStorage{Path: dir}, storeApp(t, clock, ""), nil)
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
	restarted := openRevocations(t, &certmagic.FileStorage{Path: dir}, storeApp(t, clock, ""), nil)
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
	t.Parallel()
	a := revocationPoolKey(&certmagic.FileStorage{Path: "/x/y"})
	b := revocationPoolKey(&certmagic.FileStorage{Path: "/x/y"})
	c := revocationPoolKey(&certmagic.FileStorage{Path: "/x/z"})
	if a != b || a == c {
		t.Fatalf("file storage identity: %s %s %s", a, b, c)
	}
	type configStorage struct {
		certmagic.Storage `json:"-"`
		Address           string `json:"address"`
		Password          string `json:"password"`
	}
	d := revocationPoolKey(&configStorage{Address: "10.0.0.1:6379", Password: "hunter2"})
	e := revocationPoolKey(&configStorage{Address: "10.0.0.1:6379", Password: "hunter2"})
	f := revocationPoolKey(&configStorage{Address: "10.0.0.2:6379", Password: "hunter2"})
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
	t.Parallel()
	dir := t.TempDir()
	first := newFixture(t, inStorage(dir), wallClock(), withAppJSON(`{"secret": "revocation-test-secret-0123456789abcdef"}`))
	now := time.Now()
	tok := first.token(map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": "app-jti-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	req := func() *authError { return first.authenticate(tok, token.TypeAccess) }
	if e := req(); e != nil {
		t.Fatalf("valid token refused: %v", e)
	}
	if err := first.revoke("app-jti-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e := req(); e != errRevoked {
		t.Fatalf("revoked token: got %v, want %v", e, errRevoked)
	}
	second := first.again()
	if e := second.authenticate(tok, token.TypeAccess); e != errRevoked {
		t.Fatalf("a second config on the same storage: got %v, want %v", e, errRevoked)
	}
	if found, err := revocation.LookupIn(context.Background(), &certmagic.FileStorage{Path: dir}, now, "", "app-jti-1"); err != nil || !found.ID {
		t.Fatalf("the revocation is not in the configured storage: %+v %v", found, err)
	}
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
	a := storeApp(t, clock, "")
	if err := a.resolvePlaceholders(); err != nil {
		t.Fatal(err)
	}
	a.applyDefaults()
	r, err := newRevocations(dead, a)
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
	t.Parallel()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := &certmagic.FileStorage{Path: t.TempDir()}
	app := storeApp(t, clock, `{"revocation_sync": "10ms"}`)
	if _, err := newRevocationsFor(t, s, app, nil); err == nil || !strings.Contains(err.Error(), "revocation_sync") {
		t.Fatalf("a 10ms interval: %v", err)
	}
	app = storeApp(t, clock, `{"revocation_sync": "-1s"}`)
	if _, err := newRevocationsFor(t, s, app, nil); err == nil {
		t.Fatal("a negative interval was accepted")
	}
	app = storeApp(t, clock, `{"revocation_sync": "1m"}`)
	logger, logs := debugLogger()
	if _, err := newRevocationsFor(t, s, app, logger); err != nil {
		t.Fatal(err)
	}
	if logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("longer than 5s").Len() != 1 {
		t.Fatal("an interval beyond the contract's bound was not warned about")
	}

	// the expiries stored are named by the per-entry objects of the
	// layout of earlier versions, written while one may share the storage
	dir := t.TempDir()
	testkit.HoldLegacyLayout(t, dir, clock.Now().Add(time.Hour).Unix())
	app = storeApp(t, clock, `{"leeway": "30s"}`)
	r := openRevocations(t, testkit.NewStorage(t, dir, "a"), app, nil)
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
	for _, n := range testkit.RevocationFiles(t, dir) {
		exps = append(exps, n[strings.IndexByte(n, '.')+1:])
	}
	sort.Strings(exps)
	want := []string{fmt.Sprint(clock.Now().Add(-80 * time.Second).Unix()), fmt.Sprint(clock.Now().Add(720 * time.Hour).Unix())}
	if !slices.Equal(exps, want) {
		t.Fatalf("stored expiries %q, want %q", exps, want)
	}
}

func debugLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// The contract's numbers, as the cluster test names them.
const (
	contractRevocationBound = revocation.ContractBound
	defaultRevocationSync   = revocation.DefaultInterval
)
