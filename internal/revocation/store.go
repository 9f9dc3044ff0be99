// Package revocation keeps the revoked token ids of one storage, and the
// rotation state of refresh-token families (family.go): an in-memory set
// that the request path reads without waiting, the certmagic storage it
// is made durable in, and a background loop that syncs the set with what
// other instances sharing the storage revoked and rotated.
package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

const (
	// DefaultInterval is the sync interval of a zero Config.Interval: it
	// keeps ContractBound with room for the listing itself.
	DefaultInterval = 4 * time.Second
	minInterval     = 100 * time.Millisecond
	// ContractBound is the propagation bound the contract promises; a
	// longer interval is allowed but logged.
	ContractBound = 5 * time.Second

	// Grace is the time an entry is kept past exp plus leeway before it is
	// dropped, so that an instance whose clock runs ahead never sweeps an
	// entry that another instance still needs. Config.Keep is meant to be
	// the leeway plus Grace.
	Grace = time.Minute

	// Time bounds of storage operations. A storage that hangs must not
	// hang a logout or the sync loop. Each call has its own bound: a
	// start that reads many buckets or segments is not cut short as long
	// as each answers. loadTimeout bounds the retries of a start: no try
	// begins after it.
	opTimeout   = 10 * time.Second
	loadTimeout = 10 * time.Second
	loadTries   = 5
)

// Config configures a Store.
type Config struct {
	// Storage holds the revocations, shared by the instances that use it.
	// Nil: the store is in memory only.
	Storage certmagic.Storage
	// Set is the in-memory set to read and write; nil: a new, empty one.
	Set *Set
	// Logger; nil: no logging.
	Logger *zap.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Interval is how often the loop syncs the set from storage. Zero:
	// 4s. It must be at least 100ms; beyond 5s a warning is logged.
	Interval time.Duration
	// Keep is how long past its exp an entry is kept: the verifier's
	// leeway plus Grace.
	Keep time.Duration
	// NoExpTTL is the retention of an id revoked without an expiry: the
	// longest token lifetime.
	NoExpTTL time.Duration
	// LegacyHold is how long, after the first start of this version on a
	// storage that an earlier version wrote to (or after such a version
	// wrote to it again), revocations are also written in that version's
	// per-entry layout, its buckets listed, and compacted per-entry
	// objects kept. Zero: DefaultLegacyHold; negative: never.
	LegacyHold time.Duration
	// OnSyncFailure, if set, is called after each failed sync of the loop
	// (the root package counts them in a metric).
	OnSyncFailure func(error)

	// wait is the loop's timer and the backoff between load tries; nil:
	// time.After. The package's tests replace it to drive the loop.
	wait func(time.Duration) <-chan time.Time
	// synced, if set, is told the outcome of every sync of the loop.
	synced func(error)
	// noCompaction keeps the loop from compacting (tests that count the
	// storage calls of syncs).
	noCompaction bool
	// appendWait, if set, replaces the package's appendWait.
	appendWait time.Duration
}

// Store is one user's view of the revocations of a storage: an in-memory
// Set (possibly shared with other Stores on the same storage), the
// storage it syncs from, and its own sync loop.
type Store struct {
	set      *Set
	storage  certmagic.Storage
	logger   *zap.Logger
	now      func() time.Time
	interval time.Duration
	keep     time.Duration
	noExpTTL time.Duration
	wait     func(time.Duration) <-chan time.Time
	synced   func(error)

	legacyHold    time.Duration
	onSyncFailure func(error)
	noCompaction  bool
	appendWait    time.Duration
	// compactMore: the last compaction left a backlog.
	compactMore atomic.Bool

	loop loop
}

// New checks cfg and makes a Store. It does not touch the storage: Load
// does.
func New(cfg Config) (*Store, error) {
	interval := cfg.Interval
	if interval == 0 {
		interval = DefaultInterval
	}
	if interval < minInterval {
		return nil, fmt.Errorf("jwt: revocation_sync must be at least %s (got %s); set it to e.g. 4s", minInterval, interval)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	if interval > ContractBound {
		logger.Warn("revocation sync interval is longer than 5s: other instances may accept a revoked token for that long",
			zap.Duration("revocation_sync", interval))
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	set := cfg.Set
	if set == nil {
		set = NewSet()
	}
	wait := cfg.wait
	if wait == nil {
		wait = time.After
	}
	hold := cfg.LegacyHold
	if hold == 0 {
		hold = DefaultLegacyHold
	}
	commitWait := cfg.appendWait
	if commitWait == 0 {
		commitWait = appendWait
	}
	return &Store{
		legacyHold:    hold,
		onSyncFailure: cfg.OnSyncFailure,
		noCompaction:  cfg.noCompaction,
		appendWait:    commitWait,
		set:           set,
		storage:       cfg.Storage,
		logger:        logger,
		now:           now,
		interval:      interval,
		keep:          cfg.Keep,
		noExpTTL:      cfg.NoExpTTL,
		wait:          wait,
		synced:        cfg.synced,
	}, nil
}

// WithSet returns a Store with the settings of s that reads and writes
// set, and has its own loop (not started). It is how Stores of successive
// configs on one storage share one set.
func (s *Store) WithSet(set *Set) *Store {
	return &Store{
		legacyHold:    s.legacyHold,
		onSyncFailure: s.onSyncFailure,
		noCompaction:  s.noCompaction,
		appendWait:    s.appendWait,
		set:           set,
		storage:       s.storage,
		logger:        s.logger,
		now:           s.now,
		interval:      s.interval,
		keep:          s.keep,
		noExpTTL:      s.noExpTTL,
		wait:          s.wait,
		synced:        s.synced,
	}
}

// Set returns the set the store reads and writes.
func (s *Store) Set() *Set { return s.set }

// Load fills the set from storage, within a bounded time and a bounded
// number of tries. It is meant for a start: when it fails, serving would
// accept tokens revoked before the start.
func (s *Store) Load() error {
	ctx := context.Background()
	began := time.Now()
	var err error
	for try := 1; try <= loadTries; try++ {
		if err = s.sync(ctx); err == nil && s.storage != nil && !s.set.view.haveHead && !s.noCompaction {
			s.ensureHead(ctx)
			err = s.sync(ctx)
		}
		if err == nil {
			s.logger.Info("loaded revoked token ids from storage", zap.Int("revoked", s.set.len()),
				zap.Int("identities", s.set.idents.len()), zap.Int("families", s.set.familyCount()))
			return nil
		}
		s.logger.Warn("loading revoked token ids from storage failed", zap.Int("attempt", try), zap.Error(err))
		if try == loadTries || time.Since(began) > loadTimeout {
			break
		}
		<-s.wait(backoff(try, 500*time.Millisecond))
	}
	return fmt.Errorf("jwt: cannot load revoked token ids from storage, so a token revoked before this start could be accepted; "+
		"refusing to start until the storage (the global storage option) is readable: %w", err)
}

// ID is a revocable id (a jti, a refresh token family, an identity) as
// the store keys it: its SHA-256. A caller that checks one id on many
// requests (a cached token's) computes it once with IDOf.
type ID [sha256.Size]byte

// IDOf returns the ID of id.
func IDOf(id string) ID { return sha256.Sum256(stringBytes(id)) }

// IsRevoked reports whether id has been revoked. It is on the request
// path: one hash and a map lookup under a read lock; it never waits on
// storage and allocates nothing.
func (s *Store) IsRevoked(id string) bool {
	sum := IDOf(id)
	return s.IsRevokedID(&sum)
}

// IsRevokedID is IsRevoked for an ID already computed: a map lookup under
// a read lock.
func (s *Store) IsRevokedID(id *ID) bool {
	return s.set.has((*[sha256.Size]byte)(id))
}

// stringBytes views s as bytes without copying, for a read-only use
// (hashing): []byte(s) would allocate for ids longer than 32 bytes.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// Revoke records id as revoked until exp: in memory first, so this
// instance refuses it at once, then in storage. An error means the storage
// write failed: the id stays refused here (the safe side), but other
// instances and a restart will not know of it, and the caller must say so
// (the logout route answers 503). id may be any text: a jti, or a refresh
// token family id. A zero exp keeps the id for Config.NoExpTTL.
func (s *Store) Revoke(ctx context.Context, id string, exp time.Time) error {
	if id == "" {
		return errors.New("jwt: cannot revoke an empty token id")
	}
	now := s.now()
	if exp.IsZero() {
		exp = now.Add(s.noExpTTL)
	}
	expUnix := exp.Unix()
	if exp.Nanosecond() > 0 {
		expUnix++
	}
	sum := sha256.Sum256([]byte(id))
	s.set.add(sum, expUnix)
	if s.storage == nil || time.Unix(expUnix, 0).Add(s.keep).Before(now) {
		return nil // memory only, or expired long ago: no instance would accept it
	}
	key := entryKey(sum, expUnix, now)
	value := fmt.Appendf(nil, `{"id_sha256":%q,"exp":%d,"revoked_at":%d}`, hex.EncodeToString(sum[:]), expUnix, now.Unix())
	return s.persist(ctx, now, key, value, func(g *segment) {
		g.ids = append(g.ids, slot[uint32]{keyOf(&sum), unix32(expUnix)})
	})
}

// persist makes a change durable: appended to the set's log (log.go) by
// add, and while instances of an earlier version may share the storage,
// also stored as the object key of their layout. An error means a write
// failed: the caller answers so.
func (s *Store) persist(ctx context.Context, now time.Time, key string, value []byte, add func(g *segment)) error {
	if s.legacy(now) {
		// a client that hangs up does not cancel its logout: the write
		// goes on, bounded by its own timeout
		err := withStorageTimeout(context.WithoutCancel(ctx), func(ctx context.Context) error {
			return s.storage.Store(ctx, key, value)
		})
		if err != nil {
			s.logger.Error("storing a revocation failed: it holds on this instance only", zap.String("key", key), zap.Error(err))
			return fmt.Errorf("jwt: storing revocation: %w", err)
		}
	}
	return s.appendLog(add)
}

// withStorageTimeout runs op with a bounded time. Some storages ignore
// their context (the file system does), so op runs in its own goroutine
// and is abandoned, not awaited, when the time is up.
func withStorageTimeout(ctx context.Context, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
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
