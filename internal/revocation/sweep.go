package revocation

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

const (
	// bucketRetire is how old an empty bucket must be before the sweep
	// deletes it: no writer with a sane clock writes to it anymore.
	bucketRetire = time.Hour
	// sweepBatch bounds the deletes of one full listing, so a backlog of
	// expired entries cannot delay the next sync.
	sweepBatch = 256
	// maxNoted bounds how many unrecognized keys are remembered (so each
	// is logged once).
	maxNoted = 1024
)

// sweep deletes a batch of expired keys (and empty buckets, which come
// last). Failures are logged, not returned: the set is current, and the
// next full listing tries again.
func (s *Store) sweep(ctx context.Context, expired []string) {
	if len(expired) > sweepBatch {
		expired = expired[:sweepBatch]
	}
	for _, key := range expired {
		err := withStorageTimeout(ctx, func(ctx context.Context) error {
			return s.storage.Delete(ctx, key)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger.Warn("deleting an expired revocation failed; will retry", zap.String("key", key), zap.Error(err))
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// noteUnrecognized logs a storage key that is not a revocation, once.
// The caller holds the set's syncMu.
func (s *Store) noteUnrecognized(key string) {
	name := path.Base(key)
	if strings.Trim(name, "0123456789") == "" {
		return // a temporary file of file_system storage's atomic writes
	}
	if _, seen := s.set.noted[key]; seen {
		return
	}
	if len(s.set.noted) < maxNoted {
		s.set.noted[key] = struct{}{}
	}
	s.logger.Warn("skipping an unrecognized entry among revoked token ids", zap.String("key", key))
}
