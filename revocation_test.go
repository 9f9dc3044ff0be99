package jwtextended

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// revTestStorage wraps a real file storage and fails or lies on demand.
// Its name is its identity (String), so two of them on the same folder act
// like two Caddy processes sharing storage, each with its own set.
type revTestStorage struct {
	*certmagic.FileStorage
	name string

	mu         sync.Mutex
	failList   error
	failStore  error
	failDelete error
	extraKeys  []string // listed in addition to the real keys
	lists      int
	listed     []string // prefixes listed, "(recursive)" appended when so
	deletes    int
}

func revTestNewStorage(t *testing.T, dir, name string) *revTestStorage {
	t.Helper()
	return &revTestStorage{FileStorage: &certmagic.FileStorage{Path: dir}, name: name + "@" + t.Name()}
}

func (s *revTestStorage) String() string { return "revTestStorage:" + s.name }

func (s *revTestStorage) set(f func(*revTestStorage)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *revTestStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	s.mu.Lock()
	s.lists++
	if recursive {
		s.listed = append(s.listed, prefix+" (recursive)")
	} else {
		s.listed = append(s.listed, prefix)
	}
	err, extra := s.failList, append([]string(nil), s.extraKeys...)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	keys, err := s.FileStorage.List(ctx, prefix, recursive)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return append(keys, extra...), nil
}

func (s *revTestStorage) Store(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	err := s.failStore
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.FileStorage.Store(ctx, key, value)
}

func (s *revTestStorage) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	s.deletes++
	err := s.failDelete
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if _, statErr := os.Stat(s.Filename(key)); errors.Is(statErr, fs.ErrNotExist) {
		// like most remote storages: deleting what is gone is not-found
		return fs.ErrNotExist
	}
	return s.FileStorage.Delete(ctx, key)
}

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
	r.wait = revTestNoWait
	if err := r.attach(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.detach)
	return r
}

func revTestNoWait(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func revTestLogs() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

func revTestStoredNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	root := filepath.Join(dir, "jwt", "revoked")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipAll
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, d.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// revTestEntryPath is the file of a revocation of id until exp, made at at.
func revTestEntryPath(dir, id string, exp, at time.Time) string {
	return filepath.Join(dir, filepath.FromSlash(revocationKey(sha256.Sum256([]byte(id)), exp.Unix(), at)))
}

var revTestKeyName = regexp.MustCompile(`^[0-9a-f]{64}\.[0-9]+$`)

func TestRevocationStoresHashedIDUntilExp(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := revTestOpen(t, revTestNewStorage(t, dir, "a"), revTestApp(clock), nil)

	// a jti is client-chosen text: it must never become a path
	jti := "../../../../tmp/evil/" + strings.Repeat("x", 300)
	exp := clock.Now().Add(10 * time.Minute)
	if err := r.revoke(context.Background(), jti, exp); err != nil {
		t.Fatal(err)
	}
	names := revTestStoredNames(t, dir)
	if len(names) != 1 {
		t.Fatalf("want one stored revocation, got %q", names)
	}
	sum := sha256.Sum256([]byte(jti))
	want := hex.EncodeToString(sum[:]) + fmt.Sprintf(".%d", exp.Unix())
	if names[0] != want || !revTestKeyName.MatchString(names[0]) {
		t.Fatalf("stored key %q, want %q", names[0], want)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "tmp")); err == nil {
		t.Fatal("the jti escaped the storage folder")
	}
	raw, err := os.ReadFile(revTestEntryPath(dir, jti, exp, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ID        string `json:"id_sha256"`
		Exp       int64  `json:"exp"`
		RevokedAt int64  `json:"revoked_at"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.ID != hex.EncodeToString(sum[:]) || v.Exp != exp.Unix() || v.RevokedAt != clock.Now().Unix() {
		t.Fatalf("stored value %s (%v)", raw, err)
	}
	if strings.Contains(string(raw), "evil") {
		t.Fatal("the stored value holds the raw jti")
	}

	// sub-second exp rounds up, never down
	if err := r.revoke(context.Background(), "frac", clock.Now().Add(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(revTestEntryPath(dir, "frac", clock.Now().Add(2*time.Second), clock.Now())); err != nil {
		t.Fatalf("sub-second exp not rounded up: %v", err)
	}
}

func TestRevocationImmediateHereAndAfterSyncElsewhere(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := revTestOpen(t, revTestNewStorage(t, dir, "a"), revTestApp(clock), nil)
	b := revTestOpen(t, revTestNewStorage(t, dir, "b"), revTestApp(clock), nil)
	if a.set == b.set {
		t.Fatal("two storages of distinct identity share a set; this test needs two instances")
	}

	if a.isRevoked("t1") || b.isRevoked("t1") {
		t.Fatal("revoked before revoke")
	}
	if err := a.revoke(context.Background(), "t1", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !a.isRevoked("t1") {
		t.Fatal("a revocation is not visible at once on the instance that made it")
	}
	if b.isRevoked("t1") {
		t.Fatal("b saw the revocation without syncing: the test does not show propagation")
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !b.isRevoked("t1") {
		t.Fatal("b does not refuse t1 after a sync")
	}
	if b.isRevoked("t2") || b.isRevoked("") {
		t.Fatal("unrelated ids are reported revoked")
	}
}

func TestRevocationArbitraryIDs(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := revTestOpen(t, revTestNewStorage(t, dir, "a"), revTestApp(clock), nil)
	b := revTestOpen(t, revTestNewStorage(t, dir, "b"), revTestApp(clock), nil)
	ids := []string{"family:0f3c", "ünïcødé/../\x00id", strings.Repeat("long", 4096), "A", "a"}
	for _, id := range ids {
		if err := a.revoke(context.Background(), id, clock.Now().Add(time.Hour)); err != nil {
			t.Fatalf("revoke %.20q: %v", id, err)
		}
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !b.isRevoked(id) {
			t.Fatalf("%.20q not revoked after sync", id)
		}
	}
	if b.isRevoked("B") {
		t.Fatal("ids are not compared exactly")
	}
	if err := a.revoke(context.Background(), "", clock.Now().Add(time.Hour)); err == nil {
		t.Fatal("an empty id was accepted")
	}

	// no exp: kept for the longest token lifetime
	if err := a.revoke(context.Background(), "no-exp", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(revTestEntryPath(dir, "no-exp", clock.Now().Add(720*time.Hour), clock.Now())); err != nil {
		t.Fatalf("id without exp not kept for refresh_ttl: %v", err)
	}
}

func TestRevocationExpiryAndConcurrentSweep(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	app := revTestApp(clock)
	app.Leeway = caddy.Duration(30 * time.Second)
	sa, sb := revTestNewStorage(t, dir, "a"), revTestNewStorage(t, dir, "b")
	a := revTestOpen(t, sa, app, nil)
	logger, logs := revTestLogs()
	b := revTestOpen(t, sb, app, logger)

	exp := clock.Now().Add(time.Minute)
	for _, id := range []string{"short-1", "short-2"} {
		if err := a.revoke(context.Background(), id, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.revoke(context.Background(), "long", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	// still within exp + leeway + grace: kept everywhere
	clock.Advance(time.Minute + 30*time.Second + revocationGrace)
	for _, r := range []*storageRevocations{a, b} {
		if err := revTestSyncAll(r); err != nil {
			t.Fatal(err)
		}
		if !r.isRevoked("short-1") {
			t.Fatal("dropped before exp + leeway + grace")
		}
	}
	if n := len(revTestStoredNames(t, dir)); n != 3 {
		t.Fatalf("swept too early: %d entries left", n)
	}

	// past it: both instances sweep at once; every delete of an entry the
	// other already deleted is not-found and must be tolerated silently
	clock.Advance(time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*storageRevocations{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = revTestSyncAll(r)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// and once more each, so that one of them surely deletes a key that
	// is already gone (the listing may be stale on a remote storage)
	sb.set(func(s *revTestStorage) {
		s.extraKeys = []string{revocationKey(sha256.Sum256([]byte("short-1")), exp.Unix(), clock.Now().Add(-time.Minute))}
	})
	if err := revTestSyncAll(b); err != nil {
		t.Fatal(err)
	}
	names := revTestStoredNames(t, dir)
	lsum := sha256.Sum256([]byte("long"))
	if len(names) != 1 || !strings.HasPrefix(names[0], hex.EncodeToString(lsum[:])) {
		t.Fatalf("after the sweep want only the long entry, got %q", names)
	}
	for _, r := range []*storageRevocations{a, b} {
		if r.isRevoked("short-1") || r.isRevoked("short-2") {
			t.Fatal("an expired entry stayed in memory")
		}
		if !r.isRevoked("long") {
			t.Fatal("an unexpired entry was dropped")
		}
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 0 {
		t.Fatalf("a not-found delete was logged as a failure: %v", logs.All())
	}

	// revoking a token expired long ago stores nothing
	if err := a.revoke(context.Background(), "ancient", clock.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(revTestStoredNames(t, dir)); n != 1 {
		t.Fatalf("an expired token's revocation was stored (%d entries)", n)
	}
}

func TestRevocationSweepIsBatched(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := revTestNewStorage(t, dir, "a")
	r := revTestOpen(t, s, revTestApp(clock), nil)
	total := revocationSweepBatch + 10
	for i := range total {
		if err := r.revoke(context.Background(), fmt.Sprint("b", i), clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	if err := revTestSyncAll(r); err != nil {
		t.Fatal(err)
	}
	if n := len(revTestStoredNames(t, dir)); n != 10 {
		t.Fatalf("one sync deleted %d entries, want a batch of %d", total-n, revocationSweepBatch)
	}
	if err := revTestSyncAll(r); err != nil {
		t.Fatal(err)
	}
	if n := len(revTestStoredNames(t, dir)); n != 0 {
		t.Fatalf("%d expired entries left after the second sweep", n)
	}
}

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
	if oldApp.set != newApp.set {
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
	oldApp.detach()
	oldApp.detach() // idempotent
	if n, _ := revocationSets.References(newApp.poolKey); n != 1 {
		t.Fatalf("pool references %d after the old App left, want 1", n)
	}
	if !newApp.isRevoked("on-old") {
		t.Fatal("the new App lost a revocation when the old one stopped")
	}
	// the last one leaves: the set is gone (a restart), and a new start
	// loads everything from storage before serving
	newApp.detach()
	if _, ok := revocationSets.References(newApp.poolKey); ok {
		t.Fatal("the set outlived its last App")
	}
	restarted := revTestOpen(t, &certmagic.FileStorage{Path: dir}, revTestApp(clock), nil)
	if restarted.set == newApp.set {
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

func TestRevocationStorageFaults(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := revTestNewStorage(t, dir, "a")
	logger, logs := revTestLogs()
	r := revTestOpen(t, s, revTestApp(clock), logger)
	if err := r.revoke(context.Background(), "known", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// a write that fails is an error for the caller (the logout answers
	// 503), but the id is refused here all the same
	boom := errors.New("storage is down")
	s.set(func(s *revTestStorage) { s.failStore = boom })
	err := r.revoke(context.Background(), "unsaved", clock.Now().Add(time.Hour))
	if !errors.Is(err, boom) {
		t.Fatalf("revoke with a failing storage returned %v", err)
	}
	if !r.isRevoked("unsaved") {
		t.Fatal("an id whose write failed is not refused on this instance")
	}
	if logs.FilterMessageSnippet("storing a revocation failed").Len() != 1 {
		t.Fatalf("the failed write was not logged: %v", logs.All())
	}

	// a listing that fails is an error; the last known set keeps serving
	s.set(func(s *revTestStorage) { s.failList = boom })
	if err := r.sync(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("sync with a failing storage returned %v", err)
	}
	if !r.isRevoked("known") || !r.isRevoked("unsaved") {
		t.Fatal("a failed sync dropped revocations")
	}

	// storage back: a sync never undoes the unsaved revocation
	s.set(func(s *revTestStorage) { s.failList, s.failStore = nil, nil })
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.isRevoked("unsaved") {
		t.Fatal("a sync removed a revocation that storage does not hold")
	}

	// a client that hangs up mid-logout does not cancel the write
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.revoke(gone, "hung-up", clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("revoke with a canceled request context: %v", err)
	}
	if _, err := os.Stat(revTestEntryPath(dir, "hung-up", clock.Now().Add(time.Hour), clock.Now())); err != nil {
		t.Fatalf("the revocation of a canceled request was not stored: %v", err)
	}
}

func TestRevocationStorageTimeout(t *testing.T) {
	// a storage that hangs bounds a logout instead of hanging it
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	err := withStorageTimeout(ctx, func(context.Context) error { <-release; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
}

func TestRevocationCorruptEntriesSkipped(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	writer := revTestOpen(t, revTestNewStorage(t, dir, "w"), revTestApp(clock), nil)
	if err := writer.revoke(context.Background(), "good", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := writer.revoke(context.Background(), "garbled-value", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// the value of an entry is never what decides: the name is. A
	// garbled value still revokes (the safe side).
	gkey := revTestEntryPath(dir, "garbled-value", clock.Now().Add(time.Hour), clock.Now())
	if err := os.WriteFile(gkey, []byte("\x00\xffnot json"), 0o600); err != nil {
		t.Fatal(err)
	}
	hex64 := strings.Repeat("ab", 32)
	bad := []string{
		"garbage",
		strings.Repeat("zz", 32) + ".1800000000", // not hex
		hex64 + ".soon",                          // exp not a number
		hex64 + ".-5",                            // negative exp
		hex64 + ".+5",                            // signed exp
		hex64 + ".0",                             // zero exp
		hex64 + ".99999999999999999999999",       // overflow
		hex64,                                    // no exp
		hex64[:60] + ".1800000000",               // short hash
	}
	for _, name := range bad {
		if err := os.WriteFile(filepath.Join(dir, "jwt", "revoked", name), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "jwt", "revoked", "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	// a temporary file of an atomic write in progress: skipped quietly
	if err := os.WriteFile(filepath.Join(dir, "jwt", "revoked", "4075321982"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	logger, logs := revTestLogs()
	reader := revTestOpen(t, revTestNewStorage(t, dir, "r"), revTestApp(clock), logger) // loads at attach
	if !reader.isRevoked("good") || !reader.isRevoked("garbled-value") {
		t.Fatal("a corrupt entry stopped valid entries from loading")
	}
	skipped := logs.FilterMessageSnippet("unrecognized entry")
	if skipped.Len() != len(bad)+1 {
		t.Fatalf("logged %d unrecognized entries, want %d (the bad names and subdir): %v", skipped.Len(), len(bad)+1, skipped.All())
	}
	// logged once each, not on every sync
	if err := revTestSyncAll(reader); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("unrecognized entry").Len(); n != len(bad)+1 {
		t.Fatalf("unrecognized entries logged again on the next sync (%d)", n)
	}
	if reader.set.len() != 2 {
		t.Fatalf("set holds %d entries, want the 2 valid ones", reader.set.len())
	}
}

func TestRevocationStartupLoad(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	w := revTestOpen(t, revTestNewStorage(t, dir, "w"), revTestApp(clock), nil)
	if err := w.revoke(context.Background(), "old", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// storage that fails twice, then answers: the start retries and loads
	s := revTestNewStorage(t, dir, "flaky")
	s.failList = errors.New("connection refused")
	r, err := newStorageRevocations(s, revTestApp(clock), nil)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	r.wait = func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		if len(waits) == 2 {
			s.set(func(s *revTestStorage) { s.failList = nil })
		}
		return revTestNoWait(d)
	}
	if err := r.attach(); err != nil {
		t.Fatalf("start after transient failures: %v", err)
	}
	t.Cleanup(r.detach)
	if !r.isRevoked("old") {
		t.Fatal("not loaded after retries")
	}
	if len(waits) != 2 || waits[1] <= waits[0]*3/2 {
		t.Fatalf("retries did not back off: %v", waits)
	}

	// storage that never answers: the start is refused, not silently open
	dead := revTestNewStorage(t, dir, "dead")
	dead.failList = errors.New("connection refused")
	r2, err := newStorageRevocations(dead, revTestApp(clock), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.wait = revTestNoWait
	err = r2.attach()
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("start on dead storage: %v", err)
	}
	if dead.lists != revocationLoadTries {
		t.Fatalf("tried %d times, want %d", dead.lists, revocationLoadTries)
	}
	if _, ok := revocationSets.References(r2.poolKey); ok {
		t.Fatal("a failed start left a set in the pool")
	}
}

// revTestLoop drives a store's sync loop step by step: each wait the loop
// asks for is handed to the test, which fires it.
type revTestLoop struct {
	waits  chan time.Duration
	fire   chan time.Time
	synced chan error
}

func revTestDriveLoop(r *storageRevocations) *revTestLoop {
	l := &revTestLoop{waits: make(chan time.Duration, 1), fire: make(chan time.Time), synced: make(chan error, 1)}
	r.wait = func(d time.Duration) <-chan time.Time {
		l.waits <- d
		return l.fire
	}
	r.synced = func(err error) { l.synced <- err }
	return l
}

func (l *revTestLoop) step(t *testing.T) (waited time.Duration, err error) {
	t.Helper()
	select {
	case waited = <-l.waits:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not ask to wait")
	}
	l.fire <- time.Time{}
	select {
	case err = <-l.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not sync")
	}
	return waited, err
}

func TestRevocationLoopRetriesWithBackoff(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	app := revTestApp(clock)
	app.Revocation = &RevocationConfig{SyncInterval: caddy.Duration(3 * time.Second)}
	s := revTestNewStorage(t, dir, "a")
	logger, logs := revTestLogs()
	r := revTestOpen(t, s, app, logger)
	other := revTestOpen(t, revTestNewStorage(t, dir, "other"), revTestApp(clock), nil)
	if err := other.revoke(context.Background(), "first", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	loop := revTestDriveLoop(r)
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	defer r.stop()

	waited, err := loop.step(t)
	if waited != 3*time.Second || err != nil || !r.isRevoked("first") {
		t.Fatalf("first sync: waited %s, err %v, revoked %v", waited, err, r.isRevoked("first"))
	}

	s.set(func(s *revTestStorage) { s.failList = errors.New("storage is down") })
	if _, err := loop.step(t); err == nil {
		t.Fatal("a failing sync reported success")
	}
	var backoffs []time.Duration
	for range 3 {
		waited, err := loop.step(t)
		if err == nil {
			t.Fatal("a failing sync reported success")
		}
		backoffs = append(backoffs, waited)
		if !r.isRevoked("first") {
			t.Fatal("the last known set stopped serving during the outage")
		}
	}
	// 1s, 2s, 4s with up to 20% jitter below
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if backoffs[i] > want || backoffs[i] < want*4/5 {
			t.Fatalf("backoff %d: %s, want within 20%% below %s (all: %v)", i+1, backoffs[i], want, backoffs)
		}
	}
	if n := logs.FilterMessageSnippet("serving the last known set").FilterLevelExact(zapcore.ErrorLevel).Len(); n != 4 {
		t.Fatalf("logged %d failed syncs, want 4", n)
	}

	// a revocation made elsewhere during the outage arrives on recovery
	if err := other.revoke(context.Background(), "during-outage", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.set(func(s *revTestStorage) { s.failList = nil })
	if _, err := loop.step(t); err != nil {
		t.Fatal(err)
	}
	if !r.isRevoked("during-outage") {
		t.Fatal("not synced after recovery")
	}
	if logs.FilterMessageSnippet("recovered").Len() != 1 {
		t.Fatal("recovery not logged")
	}
	// and the interval is back to normal
	if waited, _ := loop.step(t); waited != 3*time.Second {
		t.Fatalf("after recovery waited %s, want the sync interval", waited)
	}
}

func TestRevocationBackoffIsCapped(t *testing.T) {
	for failures := 1; failures < 100; failures++ {
		d := revocationBackoff(failures, time.Second)
		if d > revocationMaxBackoff || d < time.Second*4/5 {
			t.Fatalf("backoff after %d failures: %s", failures, d)
		}
	}
	if d := revocationBackoff(40, time.Second); d < revocationMaxBackoff*4/5 {
		t.Fatalf("backoff does not reach the cap: %s", d)
	}
}

func TestRevocationSyncInterval(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := &certmagic.FileStorage{Path: t.TempDir()}

	r, err := newStorageRevocations(s, revTestApp(clock), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.interval != defaultRevocationSync || r.interval > contractRevocationBound {
		t.Fatalf("default sync interval %s", r.interval)
	}

	app := revTestApp(clock)
	app.Revocation = &RevocationConfig{SyncInterval: caddy.Duration(10 * time.Millisecond)}
	if _, err := newStorageRevocations(s, app, nil); err == nil || !strings.Contains(err.Error(), "revocation_sync") {
		t.Fatalf("a 10ms interval: %v", err)
	}
	app.Revocation.SyncInterval = caddy.Duration(-time.Second)
	if _, err := newStorageRevocations(s, app, nil); err == nil {
		t.Fatal("a negative interval was accepted")
	}

	app.Revocation.SyncInterval = caddy.Duration(time.Minute)
	logger, logs := revTestLogs()
	if _, err := newStorageRevocations(s, app, logger); err != nil {
		t.Fatal(err)
	}
	if logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("longer than 5s").Len() != 1 {
		t.Fatal("an interval beyond the contract's bound was not warned about")
	}

}

// TestRevocationThroughApp provisions the jwt app on a real file_system
// storage the way Caddy does, and checks that authenticate refuses a
// revoked token with the contract's error, also in a second config (a
// reload) on the same storage.
func TestRevocationThroughApp(t *testing.T) {
	dir := t.TempDir()
	secret := []byte("revocation-test-secret-0123456789abcdef")
	cfgJSON := fmt.Sprintf(`{"storage":{"module":"file_system","root":%q},"apps":{"jwt":{"secret":%q}}}`, dir, secret)
	provision := func() *App {
		t.Helper()
		var cfg caddy.Config
		if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
			t.Fatal(err)
		}
		ctx, err := caddy.ProvisionContext(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ctx.App("jwt")
		if err != nil {
			t.Fatal(err)
		}
		return v.(*App)
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

func TestRevocationLookupAllocs(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := revTestOpen(t, &certmagic.FileStorage{Path: t.TempDir()}, revTestApp(clock), nil)
	if err := r.revoke(context.Background(), "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("j", 200)
	allocs := testing.AllocsPerRun(1000, func() {
		if !r.isRevoked("f81d4fae-7dec-11d0-a765-00a0c91e6bf6") || r.isRevoked(long) {
			panic("wrong answer")
		}
	})
	if allocs != 0 {
		t.Fatalf("isRevoked allocates %.1f times per call", allocs)
	}
}

func BenchmarkRevocationLookup(b *testing.B) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r, err := newStorageRevocations(&certmagic.FileStorage{Path: b.TempDir()}, revTestApp(clock), nil)
	if err != nil {
		b.Fatal(err)
	}
	r.set = newRevokedSet()
	for i := range 100_000 {
		var sum [sha256.Size]byte
		copy(sum[:], fmt.Sprint("filler-", i))
		r.set.add(sha256.Sum256(sum[:]), clock.Now().Add(time.Hour).Unix())
	}
	r.set.add(sha256.Sum256([]byte("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")), clock.Now().Add(time.Hour).Unix())
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !r.isRevoked("f81d4fae-7dec-11d0-a765-00a0c91e6bf6") {
				b.Fatal("not revoked")
			}
		}
	})
}

func revTestRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// BenchmarkRevocationSync measures the syncs of 1,000 and 10,000 live
// revocations on file_system storage, spread over the last hours: the
// routine sync every instance does every sync interval (it lists only the
// recent buckets), and the full listing done at start and every
// revocationFullSync.
func BenchmarkRevocationSync(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
		dir := b.TempDir()
		s := &certmagic.FileStorage{Path: dir}
		exp := clock.Now().Add(time.Hour).Unix()
		for i := range n {
			// one revocation per second over the last n seconds
			key := revocationKey(sha256.Sum256([]byte(fmt.Sprint("id-", i))), exp, clock.Now().Add(-time.Duration(i)*time.Second))
			if err := s.Store(context.Background(), key, []byte("{}")); err != nil {
				b.Fatal(err)
			}
		}
		for _, full := range []bool{false, true} {
			name := fmt.Sprintf("%d/routine", n)
			if full {
				name = fmt.Sprintf("%d/full", n)
			}
			b.Run(name, func(b *testing.B) {
				r, err := newStorageRevocations(s, revTestApp(clock), nil)
				if err != nil {
					b.Fatal(err)
				}
				r.set = newRevokedSet()
				if err := r.sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				if r.set.len() != n {
					b.Fatalf("set holds %d, want %d", r.set.len(), n)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if full {
						r.set.lastFull = time.Time{}
					}
					if err := r.sync(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// revTestSyncAll runs a sync that is a full listing (with its sweep).
func revTestSyncAll(r *storageRevocations) error {
	r.set.syncMu.Lock()
	r.set.lastFull = time.Time{}
	r.set.syncMu.Unlock()
	return r.sync(context.Background())
}

func TestRevocationRoutineSyncListsOnlyRecentBuckets(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := revTestNewStorage(t, dir, "reader")
	r := revTestOpen(t, s, revTestApp(clock), nil)
	w := revTestOpen(t, revTestNewStorage(t, dir, "writer"), revTestApp(clock), nil)
	if got := s.listed; len(got) != 1 || got[0] != revocationPrefix+" (recursive)" {
		t.Fatalf("the start did not list everything once: %q", got)
	}
	// many old revocations: a routine sync must not pay for them
	for i := range 50 {
		id := fmt.Sprint("old-", i)
		key := revocationKey(sha256.Sum256([]byte(id)), clock.Now().Add(time.Hour).Unix(), clock.Now().Add(-time.Duration(i+2)*time.Minute))
		if err := s.FileStorage.Store(context.Background(), key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}

	clock.Advance(4 * time.Second)
	if err := w.revoke(context.Background(), "recent", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.set(func(s *revTestStorage) { s.listed = nil })
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.isRevoked("recent") {
		t.Fatal("the routine sync missed a recent revocation")
	}
	if len(s.listed) == 0 || len(s.listed) > 3 {
		t.Fatalf("a routine sync listed %q, want the 2-3 recent buckets", s.listed)
	}
	for _, p := range s.listed {
		if _, ok := parseBucketKey(p); !ok {
			t.Fatalf("a routine sync listed %q, not a bucket", p)
		}
	}
	if r.isRevoked("old-40") {
		t.Fatal("test setup: the routine sync listed old buckets")
	}

	// a writer whose clock is 10 minutes behind writes into an old
	// bucket: the full listing, at most revocationFullSync later, finds it
	skewed := revocationKey(sha256.Sum256([]byte("skewed")), clock.Now().Add(time.Hour).Unix(), clock.Now().Add(-10*time.Minute))
	if err := s.FileStorage.Store(context.Background(), skewed, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	for range int(revocationFullSync / (4 * time.Second)) {
		clock.Advance(4 * time.Second)
		if err := r.sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(4 * time.Second)
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.isRevoked("skewed") || !r.isRevoked("old-40") {
		t.Fatal("the periodic full listing did not run")
	}

	// after an outage longer than half the full period, the next sync is
	// a full listing (buckets may have come and gone meanwhile)
	clock.Advance(revocationFullSync / 2)
	s.set(func(s *revTestStorage) { s.listed = nil })
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.listed) != 1 || s.listed[0] != revocationPrefix+" (recursive)" {
		t.Fatalf("after a long gap the sync listed %q", s.listed)
	}
}

func TestRevocationOldEmptyBucketsRetired(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := revTestOpen(t, revTestNewStorage(t, dir, "a"), revTestApp(clock), nil)
	if err := r.revoke(context.Background(), "short", clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	oldBucket := filepath.Join(dir, filepath.FromSlash(revocationBucketKey(clock.Now())))
	clock.Advance(revocationBucketRetire + time.Minute)
	if err := r.revoke(context.Background(), "young", clock.Now().Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	youngBucket := filepath.Join(dir, filepath.FromSlash(revocationBucketKey(clock.Now())))
	clock.Advance(time.Minute) // "young" has expired too: both buckets empty after the sweep
	// the first full listing deletes the expired entries, the next one the
	// buckets that are then empty and old
	for range 2 {
		if err := revTestSyncAll(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(oldBucket); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an old empty bucket was kept: %v", err)
	}
	if _, err := os.Stat(youngBucket); err != nil {
		t.Fatalf("a young bucket was deleted: %v", err)
	}
	if n := len(revTestStoredNames(t, dir)); n != 0 {
		t.Fatalf("%d expired entries left", n)
	}
}
