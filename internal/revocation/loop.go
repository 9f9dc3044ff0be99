package revocation

// The sync loop: a Store syncs every interval in the background, backs
// off while storage fails, and compacts when one is due.

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// loop is the state of a Store's background sync.
type loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	// compacting is set while a compaction runs in the background; wg
	// waits for it on Stop.
	compacting  sync.Mutex
	wg          sync.WaitGroup
	lastCompact time.Time
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

// Stop ends the sync loop and waits for it and for a compaction in
// progress; a storage call in flight is abandoned, not awaited. Stopping
// a loop that does not run does nothing.
func (s *Store) Stop() error {
	s.loop.mu.Lock()
	defer s.loop.mu.Unlock()
	if s.loop.cancel == nil {
		return nil
	}
	s.loop.cancel()
	<-s.loop.done
	s.loop.wg.Wait()
	s.loop.cancel, s.loop.done = nil, nil
	return nil
}

// run syncs every interval; after a failure it retries with a growing,
// jittered backoff while the last known set keeps serving. After a
// successful sync it starts a compaction in the background when one is
// due (compact.go).
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
			if s.onSyncFailure != nil {
				s.onSyncFailure(err)
			}
			s.logger.Error("syncing revoked token ids from storage failed; serving the last known set",
				zap.Int("attempt", failures), zap.Int("revoked", s.set.len()), zap.Error(err))
		case failures > 0:
			s.logger.Info("syncing revoked token ids from storage recovered", zap.Int("failed_attempts", failures))
			failures = 0
		}
		if err == nil {
			s.maybeCompact(ctx)
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

// Sync runs one sync now, as the loop does: for tools and simulations
// that drive the store with their own clock rather than Start.
func (s *Store) Sync(ctx context.Context) error { return s.sync(ctx) }

// Identities is the number of identity revocations in memory.
func (s *Store) Identities() int { return s.set.idents.len() }
