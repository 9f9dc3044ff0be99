package revocation

import (
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

const (
	// bucketRetire is how old an empty bucket must be before the sweep
	// deletes it: no writer with a sane clock writes to it anymore.
	bucketRetire = time.Hour
	// maxNoted bounds how many unrecognized keys are remembered (so each
	// is logged once).
	maxNoted = 1024
)

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
