package jwtextended

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// RevocationConfig configures the store of revoked token ids.
//
// Revoked ids live in Caddy's storage (the global `storage` option), one
// key per revocation, and every instance keeps an in-memory copy that the
// request path reads. A revocation is visible on the instance that made it
// at once, and on every other instance sharing the storage within
// sync_interval plus the time one listing of the storage takes.
type RevocationConfig struct {
	// How often the in-memory set is refreshed from Caddy's storage, so
	// that revocations made by other instances are seen. At least 100ms.
	// Default: 4s, which keeps the contract's bound of 5 seconds with room
	// for the listing itself.
	SyncInterval caddy.Duration `json:"sync_interval,omitempty"`
}

// revocationStore is where revoked token ids (jti) live. isRevoked is on
// the request path and must never wait on storage.
type revocationStore interface {
	// isRevoked reports whether the jti has been revoked.
	isRevoked(jti string) bool
	// revoke records the jti as revoked until exp; an error means the
	// revocation could not be made durable.
	revoke(ctx context.Context, jti string, exp time.Time) error
	start() error
	stop() error
}

const (
	// revocationPrefix is the storage folder of revocations. Each key is
	//
	//	jwt/revoked/<bucket>/<hex sha256 of the id>.<exp unix seconds>
	//
	// The id is hashed because it is text a client chose; the expiry is in
	// the name so that syncs and the sweep only ever list, never load an
	// entry; the bucket is the UTC minute of the revocation (20060102T1504),
	// so that a routine sync lists only the two or three buckets written
	// since the last one, however many revocations are live. A full listing
	// (at start, then every revocationFullSync) loads everything, sweeps
	// expired entries, and catches writers whose clocks are off.
	revocationPrefix = "jwt/revoked"
	revocationBucket = "20060102T1504"

	// revocationClockSkew is how far the clocks of instances may disagree
	// and still have every revocation picked up by the routine sync.
	revocationClockSkew = 30 * time.Second
	// revocationFullSync is how often a full listing runs.
	revocationFullSync = 5 * time.Minute
	// revocationBucketRetire is how old an empty bucket must be before the
	// sweep deletes it: no writer with a sane clock writes to it anymore.
	revocationBucketRetire = time.Hour

	defaultRevocationSync = 4 * time.Second
	minRevocationSync     = 100 * time.Millisecond
	// contractRevocationBound is the propagation bound the contract
	// promises; a longer sync_interval is allowed but logged.
	contractRevocationBound = 5 * time.Second

	// revocationGrace is kept past exp+leeway before an entry is dropped,
	// so that an instance whose clock runs ahead never sweeps an entry
	// that another instance still needs.
	revocationGrace = time.Minute

	// Time bounds of storage operations. A storage that hangs must not
	// hang a logout or the sync loop.
	revocationOpTimeout   = 10 * time.Second
	revocationLoadTimeout = 10 * time.Second
	revocationLoadTries   = 5
	revocationMaxBackoff  = time.Minute
	// revocationSweepBatch bounds the deletes of one full listing, so a
	// backlog of expired entries cannot delay the next sync.
	revocationSweepBatch = 256
	// revocationMaxNoted bounds how many unrecognized keys are remembered
	// (so each is logged once).
	revocationMaxNoted = 1024
)

// revocationSets holds one revokedSet per storage, shared by every App
// provisioned on that storage in this process: during a config reload the
// old and the new App read and write the same set, so nothing revoked on
// one slips through the other.
var revocationSets = caddy.NewUsagePool()

// revokedSet is the in-memory set of revoked ids of one storage.
type revokedSet struct {
	mu sync.RWMutex
	// ids maps the SHA-256 of a revoked id to its exp in unix seconds.
	ids map[[sha256.Size]byte]int64

	// syncMu serializes syncs: during a reload two Apps may sync at once.
	// It guards the fields below.
	syncMu sync.Mutex
	// noted remembers unrecognized storage keys already logged.
	noted map[string]struct{}
	// lastSync and lastFull are the start times of the last successful
	// sync and full listing.
	lastSync, lastFull time.Time
}

func newRevokedSet() *revokedSet {
	return &revokedSet{ids: map[[sha256.Size]byte]int64{}, noted: map[string]struct{}{}}
}

// Destruct implements caddy.Destructor; the set holds nothing to close.
func (s *revokedSet) Destruct() error { return nil }

func (s *revokedSet) has(sum *[sha256.Size]byte) bool {
	s.mu.RLock()
	_, ok := s.ids[*sum]
	s.mu.RUnlock()
	return ok
}

// add records sum until exp, keeping the later exp if it is already there.
func (s *revokedSet) add(sum [sha256.Size]byte, exp int64) {
	s.mu.Lock()
	if old, ok := s.ids[sum]; !ok || exp > old {
		s.ids[sum] = exp
	}
	s.mu.Unlock()
}

// revocationEntry is one revocation as named in storage.
type revocationEntry struct {
	sum [sha256.Size]byte
	exp int64
}

// merge adds entries that are new or later than what the set holds. It
// never removes: an entry only leaves the set by expiring, so a sync can
// not undo a revocation made here whose write to storage failed.
func (s *revokedSet) merge(entries []revocationEntry) int {
	var added []revocationEntry
	s.mu.RLock()
	for _, e := range entries {
		if old, ok := s.ids[e.sum]; !ok || e.exp > old {
			added = append(added, e)
		}
	}
	s.mu.RUnlock()
	if len(added) == 0 {
		return 0
	}
	s.mu.Lock()
	for _, e := range added {
		if old, ok := s.ids[e.sum]; !ok || e.exp > old {
			s.ids[e.sum] = e.exp
		}
	}
	s.mu.Unlock()
	return len(added)
}

// purge drops entries whose exp is before cutoff (unix seconds). Readers
// are only blocked while the expired entries are deleted.
func (s *revokedSet) purge(cutoff int64) int {
	var expired [][sha256.Size]byte
	s.mu.RLock()
	for sum, exp := range s.ids {
		if exp < cutoff {
			expired = append(expired, sum)
		}
	}
	s.mu.RUnlock()
	if len(expired) == 0 {
		return 0
	}
	s.mu.Lock()
	for _, sum := range expired {
		if exp, ok := s.ids[sum]; ok && exp < cutoff {
			delete(s.ids, sum)
		}
	}
	s.mu.Unlock()
	return len(expired)
}

func (s *revokedSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ids)
}

// storageRevocations is one App's view of the revocations of its storage:
// the shared in-memory set, the storage it syncs from, and its sync loop.
type storageRevocations struct {
	set      *revokedSet
	poolKey  string
	storage  certmagic.Storage
	logger   *zap.Logger
	now      func() time.Time
	interval time.Duration
	// keep is how long past exp an entry is kept: leeway plus grace.
	keep time.Duration
	// noExpTTL is the retention of an id revoked without an expiry.
	noExpTTL time.Duration

	// wait is the loop's timer and the backoff between startup tries;
	// tests replace it to drive the loop without waiting.
	wait func(time.Duration) <-chan time.Time
	// synced, if set, is told the outcome of every sync of the loop.
	synced func(error)

	loop     sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
	detached sync.Once
}

// openRevocationStore opens the app's revocation store on Caddy's storage.
// The first App on a storage in this process loads the revoked ids before
// it returns, so the first request after a start already sees them; later
// Apps (a reload) share that set. When the storage cannot be read at
// start, the config is refused: serving would accept tokens revoked before
// the restart.
func openRevocationStore(ctx caddy.Context, a *App) (revocationStore, error) {
	r, err := newStorageRevocations(ctx.Storage(), a, a.logger)
	if err != nil {
		return nil, err
	}
	if err := r.attach(); err != nil {
		return nil, err
	}
	// Leave the shared set when this config is unloaded (or fails to
	// load). ctx.OnCancel cannot be used from Provision: it registers on a
	// copy of the context.
	context.AfterFunc(ctx, r.detach)
	return r, nil
}

// newStorageRevocations checks the app's revocation settings and prepares
// a store on storage. It does not touch the storage; attach does. A nil
// storage makes a store of this App's memory only, shared with nobody.
func newStorageRevocations(storage certmagic.Storage, a *App, logger *zap.Logger) (*storageRevocations, error) {
	interval := defaultRevocationSync
	if a.Revocation != nil && a.Revocation.SyncInterval != 0 {
		interval = time.Duration(a.Revocation.SyncInterval)
	}
	if interval < minRevocationSync {
		return nil, fmt.Errorf("jwt: revocation sync_interval must be at least %s (got %s); set revocation_sync to e.g. 4s", minRevocationSync, interval)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if interval > contractRevocationBound {
		logger.Warn("revocation sync interval is longer than 5s: other instances may accept a revoked token for that long",
			zap.Duration("sync_interval", interval))
	}
	now := a.now
	if now == nil {
		now = time.Now
	}
	r := &storageRevocations{
		storage:  storage,
		logger:   logger,
		now:      now,
		interval: interval,
		keep:     time.Duration(a.Leeway) + revocationGrace,
		noExpTTL: max(a.accessTTL(), a.refreshTTL()),
		wait:     time.After,
	}
	if storage != nil {
		r.poolKey = revocationPoolKey(storage)
	} else {
		r.poolKey = fmt.Sprintf("jwt.revocation.memory.%p", r)
	}
	return r, nil
}

// revocationPoolKey names a storage, so that Apps of successive configs on
// the same storage share one set. Storages that describe themselves (the
// file system storage says "FileStorage:<path>") are named by that;
// others by their type and JSON configuration. The name is hashed: it may
// hold credentials.
func revocationPoolKey(s certmagic.Storage) string {
	var id string
	if str, ok := s.(fmt.Stringer); ok {
		id = fmt.Sprintf("%T:%s", s, str.String())
	} else if b, err := json.Marshal(s); err == nil {
		id = fmt.Sprintf("%T:%s", s, b)
	} else {
		id = fmt.Sprintf("%T:%p", s, s)
	}
	sum := sha256.Sum256([]byte(id))
	return "jwt.revocation." + hex.EncodeToString(sum[:])
}

// attach joins the shared set of the storage, loading it from storage
// first if this is the first App on it in this process.
func (r *storageRevocations) attach() error {
	v, _, err := revocationSets.LoadOrNew(r.poolKey, func() (caddy.Destructor, error) {
		set := newRevokedSet()
		r.set = set
		if err := r.load(); err != nil {
			return nil, err
		}
		return set, nil
	})
	if err != nil {
		return err
	}
	r.set = v.(*revokedSet)
	return nil
}

// detach stops the loop and leaves the shared set; the set is dropped
// when its last App leaves.
func (r *storageRevocations) detach() {
	r.detached.Do(func() {
		_ = r.stop()
		_, _ = revocationSets.Delete(r.poolKey)
	})
}

// load fills the set from storage at start, within a bounded time and a
// bounded number of tries.
func (r *storageRevocations) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), revocationLoadTimeout)
	defer cancel()
	var err error
tries:
	for try := 1; try <= revocationLoadTries; try++ {
		if err = r.sync(ctx); err == nil {
			r.logger.Info("loaded revoked token ids from storage", zap.Int("revoked", r.set.len()))
			return nil
		}
		r.logger.Warn("loading revoked token ids from storage failed", zap.Int("attempt", try), zap.Error(err))
		if try == revocationLoadTries {
			break
		}
		select {
		case <-ctx.Done():
			break tries
		case <-r.wait(revocationBackoff(try, 500*time.Millisecond)):
		}
	}
	return fmt.Errorf("jwt: cannot load revoked token ids from storage, so a token revoked before this start could be accepted; "+
		"refusing to start until the storage (the global storage option) is readable: %w", err)
}

// isRevoked is on the request path: one hash and a map lookup under a
// read lock; it never waits on storage and allocates nothing.
func (r *storageRevocations) isRevoked(jti string) bool {
	sum := sha256.Sum256(stringBytes(jti))
	return r.set.has(&sum)
}

// stringBytes views s as bytes without copying, for a read-only use
// (hashing): []byte(s) would allocate for ids longer than 32 bytes.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// revoke records id as revoked until exp: in memory first, so this
// instance refuses it at once, then in storage. An error means the storage
// write failed: the id stays refused here (the safe side), but other
// instances and a restart will not know of it, and the caller must say so
// (the logout route answers 503). id may be any text: a jti, or a refresh
// token family id. A zero exp keeps the id for the longest token lifetime.
func (r *storageRevocations) revoke(ctx context.Context, id string, exp time.Time) error {
	if id == "" {
		return errors.New("jwt: cannot revoke an empty token id")
	}
	now := r.now()
	if exp.IsZero() {
		exp = now.Add(r.noExpTTL)
	}
	expUnix := exp.Unix()
	if exp.Nanosecond() > 0 {
		expUnix++
	}
	sum := sha256.Sum256([]byte(id))
	r.set.add(sum, expUnix)
	if r.storage == nil || time.Unix(expUnix, 0).Add(r.keep).Before(now) {
		return nil // memory only, or expired long ago: no instance would accept it
	}
	key := revocationKey(sum, expUnix, now)
	value := fmt.Appendf(nil, `{"id_sha256":%q,"exp":%d,"revoked_at":%d}`, hex.EncodeToString(sum[:]), expUnix, now.Unix())
	// a client that hangs up does not cancel its logout: the write goes on,
	// bounded by its own timeout
	err := withStorageTimeout(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return r.storage.Store(ctx, key, value)
	})
	if err != nil {
		r.logger.Error("storing a revocation failed: the token is refused on this instance only",
			zap.String("key", key), zap.Error(err))
		return fmt.Errorf("jwt: storing revocation: %w", err)
	}
	return nil
}

// revocationKey is the storage key of a revocation made at the time at.
func revocationKey(sum [sha256.Size]byte, exp int64, at time.Time) string {
	return revocationBucketKey(at) + "/" + hex.EncodeToString(sum[:]) + "." + strconv.FormatInt(exp, 10)
}

// revocationBucketKey is the storage key of the bucket of the time at.
func revocationBucketKey(at time.Time) string {
	return revocationPrefix + "/" + at.UTC().Format(revocationBucket)
}

// parseRevocationKey reads a storage key written by revocationKey.
func parseRevocationKey(key string) (revocationEntry, bool) {
	var e revocationEntry
	name := path.Base(key)
	h, expText, ok := strings.Cut(name, ".")
	if !ok || len(h) != 2*sha256.Size {
		return e, false
	}
	if _, err := hex.Decode(e.sum[:], []byte(h)); err != nil {
		return e, false
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || exp <= 0 || expText[0] == '+' {
		return e, false
	}
	e.exp = exp
	return e, true
}

// parseBucketKey reads the time of a bucket key.
func parseBucketKey(key string) (time.Time, bool) {
	dir, name := path.Split(key)
	if dir != revocationPrefix+"/" {
		return time.Time{}, false
	}
	t, err := time.Parse(revocationBucket, name)
	return t, err == nil
}

// sync refreshes the set from storage: a full listing at the first sync,
// every revocationFullSync and after a long outage, otherwise only the
// buckets written since the last sync (with room for clock skew).
func (r *storageRevocations) sync(ctx context.Context) error {
	if !r.set.syncMu.TryLock() {
		// another App on this storage (a reload's overlap) is syncing
		// the same set right now
		return nil
	}
	defer r.set.syncMu.Unlock()
	start := r.now()
	set := r.set
	if r.storage == nil {
		set.purge(start.Add(-r.keep).Unix())
		return nil
	}
	full := set.lastFull.IsZero() || start.Sub(set.lastFull) >= revocationFullSync ||
		start.Sub(set.lastSync) >= revocationFullSync/2 || start.Before(set.lastSync)
	var err error
	if full {
		err = r.syncAll(ctx, start)
	} else {
		err = r.syncRecent(ctx, set.lastSync.Add(-revocationClockSkew), start.Add(revocationClockSkew))
	}
	if err != nil {
		return err
	}
	set.lastSync = start
	if full {
		set.lastFull = start
	}
	return nil
}

// syncRecent lists the buckets of the minutes from..to and adds what is
// new. It never sweeps: that is the full listing's job.
func (r *storageRevocations) syncRecent(ctx context.Context, from, to time.Time) error {
	var entries []revocationEntry
	for m := from.Truncate(time.Minute); !m.After(to); m = m.Add(time.Minute) {
		bucket := revocationBucketKey(m)
		keys, err := r.list(ctx, bucket, false)
		if err != nil {
			return err
		}
		for _, key := range keys {
			if e, ok := parseRevocationKey(key); ok {
				entries = append(entries, e)
			} else {
				r.noteUnrecognized(key)
			}
		}
	}
	if n := r.set.merge(entries); n > 0 {
		r.logger.Debug("revocations from storage", zap.Int("added", n))
	}
	return nil
}

// syncAll lists every revocation in one recursive listing, adds what is
// new, drops expired entries from memory, and sweeps a batch of expired
// keys and old empty buckets from storage. The sweep is safe on every
// instance at once: keys are never rewritten with another meaning (the
// expiry is in the name), and deleting a key that another instance already
// deleted is not an error.
func (r *storageRevocations) syncAll(ctx context.Context, now time.Time) error {
	keys, err := r.list(ctx, revocationPrefix, true)
	if err != nil {
		return err
	}
	cutoff := now.Add(-r.keep).Unix()
	retire := now.Add(-revocationBucketRetire)
	entries := make([]revocationEntry, 0, len(keys))
	var expired []string
	buckets := map[string]bool{} // old bucket -> it still holds keys
	for _, key := range keys {
		if t, ok := parseBucketKey(key); ok {
			if t.Before(retire) && !buckets[key] {
				buckets[key] = false
			}
			continue
		}
		if parent := path.Dir(key); parent != revocationPrefix {
			buckets[parent] = true
		}
		e, ok := parseRevocationKey(key)
		if !ok {
			r.noteUnrecognized(key)
			continue
		}
		if e.exp < cutoff {
			expired = append(expired, key)
			continue
		}
		entries = append(entries, e)
	}
	if n := r.set.merge(entries); n > 0 {
		r.logger.Debug("revocations from storage", zap.Int("added", n))
	}
	r.set.purge(cutoff)
	var empty []string
	for bucket, used := range buckets {
		if !used {
			empty = append(empty, bucket)
		}
	}
	r.sweep(ctx, append(expired, empty...))
	return nil
}

// list lists a storage folder within the time bound; a folder that does
// not exist is empty.
func (r *storageRevocations) list(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	var keys []string
	err := withStorageTimeout(ctx, func(ctx context.Context) error {
		var err error
		keys, err = r.storage.List(ctx, prefix, recursive)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	return keys, nil
}

// sweep deletes a batch of expired keys (and empty buckets, which come
// last). Failures are logged, not returned: the set is current, and the
// next full listing tries again.
func (r *storageRevocations) sweep(ctx context.Context, expired []string) {
	if len(expired) > revocationSweepBatch {
		expired = expired[:revocationSweepBatch]
	}
	for _, key := range expired {
		err := withStorageTimeout(ctx, func(ctx context.Context) error {
			return r.storage.Delete(ctx, key)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.logger.Warn("deleting an expired revocation failed; will retry", zap.String("key", key), zap.Error(err))
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// noteUnrecognized logs a storage key that is not a revocation, once.
func (r *storageRevocations) noteUnrecognized(key string) {
	name := path.Base(key)
	if strings.Trim(name, "0123456789") == "" {
		return // a temporary file of file_system storage's atomic writes
	}
	if _, seen := r.set.noted[key]; seen {
		return
	}
	if len(r.set.noted) < revocationMaxNoted {
		r.set.noted[key] = struct{}{}
	}
	r.logger.Warn("skipping an unrecognized entry among revoked token ids", zap.String("key", key))
}

// start runs the sync loop.
func (r *storageRevocations) start() error {
	r.loop.Lock()
	defer r.loop.Unlock()
	if r.cancel != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.run(ctx, r.done)
	return nil
}

// stop ends the sync loop and waits for it; a storage call in flight is
// abandoned, not awaited.
func (r *storageRevocations) stop() error {
	r.loop.Lock()
	defer r.loop.Unlock()
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	<-r.done
	r.cancel, r.done = nil, nil
	return nil
}

// run syncs every interval; after a failure it retries with a growing,
// jittered backoff while the last known set keeps serving.
func (r *storageRevocations) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	failures := 0
	for {
		d := r.interval
		if failures > 0 {
			d = revocationBackoff(failures, min(r.interval, time.Second))
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wait(d):
		}
		err := r.sync(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			failures++
			r.logger.Error("syncing revoked token ids from storage failed; serving the last known set",
				zap.Int("attempt", failures), zap.Int("revoked", r.set.len()), zap.Error(err))
		case failures > 0:
			r.logger.Info("syncing revoked token ids from storage recovered", zap.Int("failed_attempts", failures))
			failures = 0
		}
		if r.synced != nil {
			r.synced(err)
		}
	}
}

// revocationBackoff is the wait before retry number failures (1-based):
// base doubled per failure, capped at revocationMaxBackoff, with up to 20%
// jitter so that instances do not retry in step.
func revocationBackoff(failures int, base time.Duration) time.Duration {
	d := base
	for i := 1; i < failures && d < revocationMaxBackoff; i++ {
		d *= 2
	}
	d = min(d, revocationMaxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// withStorageTimeout runs op with a bounded time. Some storages ignore
// their context (the file system does), so op runs in its own goroutine
// and is abandoned, not awaited, when the time is up.
func withStorageTimeout(ctx context.Context, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, revocationOpTimeout)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- op(ctx) }()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Interface guards
var (
	_ revocationStore  = (*storageRevocations)(nil)
	_ caddy.Destructor = (*revokedSet)(nil)
)
