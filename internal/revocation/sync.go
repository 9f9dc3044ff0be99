package revocation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// clockSkew is how far the clocks of instances may disagree and still
	// have every revocation picked up by the routine sync.
	clockSkew = 30 * time.Second
	// fullSyncEvery is how often a full listing runs.
	fullSyncEvery = 5 * time.Minute
	// maxBackoff caps the wait between retries of a failing storage.
	maxBackoff = time.Minute
)

// sync refreshes the set from storage: a full listing at the first sync,
// every fullSyncEvery and after a long outage, otherwise only the buckets
// written since the last sync (with room for clock skew).
func (s *Store) sync(ctx context.Context) error {
	if !s.set.syncMu.TryLock() {
		// another Store on this set (a reload's overlap) is syncing it
		// right now
		return nil
	}
	defer s.set.syncMu.Unlock()
	start := s.now()
	set := s.set
	if s.storage == nil {
		set.purge(start.Add(-s.keep).Unix())
		set.idents.purge(start.Add(-s.keep).Unix())
		set.purgeFamilies(start.Add(-s.keep).Unix())
		return nil
	}
	full := set.lastFull.IsZero() || start.Sub(set.lastFull) >= fullSyncEvery ||
		start.Sub(set.lastSync) >= fullSyncEvery/2 || start.Before(set.lastSync)
	var err error
	if full {
		err = s.syncAll(ctx, start)
	} else {
		err = s.syncRecent(ctx, set.lastSync.Add(-clockSkew), start.Add(clockSkew))
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
// new (revocations and family records). It never sweeps: that is the full listing's job.
func (s *Store) syncRecent(ctx context.Context, from, to time.Time) error {
	var entries []entry
	var recs []familyRecord
	for m := from.Truncate(time.Minute); !m.After(to); m = m.Add(time.Minute) {
		bucket := bucketKey(m)
		keys, err := s.list(ctx, bucket, false)
		if err != nil {
			return err
		}
		for _, key := range keys {
			if e, ok := parseEntryKey(key); ok {
				entries = append(entries, e)
			} else if ie, ok := parseIdentityKey(key); ok {
				s.set.idents.merge(ie)
			} else if r, ok := parseFamilyKey(key); ok {
				recs = append(recs, r)
			} else {
				s.noteUnrecognized(key)
			}
		}
	}
	if n := s.set.merge(entries); n > 0 {
		s.logger.Debug("revocations from storage", zap.Int("added", n))
	}
	if n := s.set.mergeFamilies(recs); n > 0 {
		s.logger.Debug("refresh token rotations from storage", zap.Int("added", n))
	}
	return nil
}

// syncAll lists every revocation and family record in one recursive
// listing, adds what is new, drops expired entries from memory, and sweeps
// a batch of expired keys, superseded family records and old empty buckets
// from storage. The sweep is safe on every
// instance at once: keys are never rewritten with another meaning (the
// expiry is in the name), and deleting a key that another instance already
// deleted is not an error.
func (s *Store) syncAll(ctx context.Context, now time.Time) error {
	keys, err := s.list(ctx, keyPrefix, true)
	if err != nil {
		return err
	}
	cutoff := now.Add(-s.keep).Unix()
	retire := now.Add(-bucketRetire)
	entries := make([]entry, 0, len(keys))
	var expired []string
	var recs []familyRecord
	var idents []identityEntry
	var identKeys []string
	buckets := map[string]bool{} // old bucket -> it still holds keys
	for _, key := range keys {
		if t, ok := parseBucketKey(key); ok {
			if t.Before(retire) && !buckets[key] {
				buckets[key] = false
			}
			continue
		}
		if parent := path.Dir(key); parent != keyPrefix {
			buckets[parent] = true
		}
		if ie, ok := parseIdentityKey(key); ok {
			if ie.exp < cutoff {
				expired = append(expired, key)
			} else {
				idents, identKeys = append(idents, ie), append(identKeys, key)
			}
			continue
		}
		e, ok := parseEntryKey(key)
		if !ok {
			if r, ok := parseFamilyKey(key); ok {
				recs = append(recs, r)
			} else {
				s.noteUnrecognized(key)
			}
			continue
		}
		if e.exp < cutoff {
			expired = append(expired, key)
			continue
		}
		entries = append(entries, e)
	}
	live, stale := splitFamilies(recs, cutoff)
	expired = append(expired, stale...)
	expired = append(expired, supersededIdentities(idents, identKeys)...)
	s.set.idents.merge(idents...)
	if n := s.set.merge(entries); n > 0 {
		s.logger.Debug("revocations from storage", zap.Int("added", n))
	}
	if n := s.set.mergeFamilies(live); n > 0 {
		s.logger.Debug("refresh token rotations from storage", zap.Int("added", n))
	}
	s.set.purge(cutoff)
	s.set.idents.purge(cutoff)
	s.set.purgeFamilies(cutoff)
	var empty []string
	for bucket, used := range buckets {
		if !used {
			empty = append(empty, bucket)
		}
	}
	s.sweep(ctx, append(expired, empty...))
	return nil
}

// list lists a storage folder within the time bound; a folder that does
// not exist is empty.
func (s *Store) list(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	var keys []string
	err := withStorageTimeout(ctx, func(ctx context.Context) error {
		var err error
		keys, err = s.storage.List(ctx, prefix, recursive)
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

// loop is the state of a Store's background sync.
type loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs the sync loop in the background. Starting a running loop
// does nothing.
func (s *Store) Start() error {
	s.loop.mu.Lock()
	defer s.loop.mu.Unlock()
	if s.loop.cancel != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.loop.cancel, s.loop.done = cancel, make(chan struct{})
	go s.run(ctx, s.loop.done)
	return nil
}

// Stop ends the sync loop and waits for it; a storage call in flight is
// abandoned, not awaited. Stopping a loop that does not run does nothing.
func (s *Store) Stop() error {
	s.loop.mu.Lock()
	defer s.loop.mu.Unlock()
	if s.loop.cancel == nil {
		return nil
	}
	s.loop.cancel()
	<-s.loop.done
	s.loop.cancel, s.loop.done = nil, nil
	return nil
}

// run syncs every interval; after a failure it retries with a growing,
// jittered backoff while the last known set keeps serving.
func (s *Store) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	failures := 0
	for {
		d := s.interval
		if failures > 0 {
			d = backoff(failures, min(s.interval, time.Second))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wait(d):
		}
		err := s.sync(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			failures++
			s.logger.Error("syncing revoked token ids from storage failed; serving the last known set",
				zap.Int("attempt", failures), zap.Int("revoked", s.set.len()), zap.Error(err))
		case failures > 0:
			s.logger.Info("syncing revoked token ids from storage recovered", zap.Int("failed_attempts", failures))
			failures = 0
		}
		if s.synced != nil {
			s.synced(err)
		}
	}
}

// backoff is the wait before retry number failures (1-based): base
// doubled per failure, capped at maxBackoff, with up to 20% jitter so
// that instances do not retry in step.
func backoff(failures int, base time.Duration) time.Duration {
	d := base
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
