package revocation

// The logs. Every revocation, identity revocation and rotation record is
// appended to a log of the instance that made it: a log has exactly one
// writer (a Set, which lives as long as the process keeps the storage),
// so appending takes no storage lock.
//
//	jwt/revocations/log/<writer>/<seq, 16 digits>              a batch, in the segment encoding
//	jwt/revocations/tips/<writer>.<seq, 16 digits>[.<records>]  the writer's last batch
//
// A tip's name carries, in hex, the records of its batch when they fit
// (at most maxInline bytes: four revoked ids, or a rotation record), so a
// reader one batch behind a writer reads them from the listing and Loads
// nothing.
//
// A writer commits in groups: revocations made while a batch is being
// written go together into the next one. A commit Stores the batch, then
// a new tip, then deletes the previous tip; a seq is never used twice,
// even after a failed write. The revoking callers wait for the commit;
// they fail (the logout answers 503) when a write of it failed.
//
// A routine sync lists the tips folder (one key per writer: the instances
// of the storage, and those stopped within writerRetire) and Loads the
// batches past its position in each log, but the one inline in a tip: what changed, whatever the
// number of live entries. A compaction folds every log into segments
// (compact.go) and records, per writer, the last seq folded in the head;
// a batch that is gone was either folded (the head read after the miss
// says so, and its segments hold the entries) or never written (a failed
// commit, which its callers were told of).
//
// A writer that wrote nothing for writerIdle takes a new id at its next
// commit, so a log not written for writerRetire is closed: a compaction
// that has folded it deletes its tip and its name from the head.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	logPrefix = layoutPrefix + "/log"
	tipPrefix = layoutPrefix + "/tips"
	// writerIdle: a writer idle this long starts a new log at its next
	// commit.
	writerIdle = 30 * time.Minute
	// writerRetire: a compaction closes a log folded and not written for
	// this long (twice writerIdle, for clocks that disagree).
	writerRetire = time.Hour
	// appendWait bounds how long a revoking caller waits for its commit,
	// as it waited for its one Store before the logs: a storage slower
	// than that fails the caller (503), and the commit goes on.
	appendWait = opTimeout
	// passBatches bounds the batches one compaction folds, and one sync
	// reads of a log; a backlog is worked off in several.
	passBatches = 16_384
	// maxInline bounds the records a tip's name holds: with the writer
	// and seq the name stays under 255 bytes, a file name's limit.
	maxInline = 96
)

func batchKey(writer string, seq int64) string {
	return fmt.Sprintf("%s/%s/%016d", logPrefix, writer, seq)
}

// tipKey is the key of the tip of batch seq of writer, holding g when
// it fits.
func tipKey(writer string, seq int64, g *segment) string {
	key := fmt.Sprintf("%s/%s.%016d", tipPrefix, writer, seq)
	if rec := g.encode()[len(segmentMagic):]; len(rec) <= maxInline {
		key += "." + hex.EncodeToString(rec)
	}
	return key
}

// tip is a writer's tip as listed.
type tip struct {
	seq int64
	key string
	// inline is the batch's records, in the segment encoding, when the
	// key holds them; else nil.
	inline []byte
}

// parseTipKey reads a key written by tipKey.
func parseTipKey(key string) (writer string, t tip, ok bool) {
	if path.Dir(key) != tipPrefix {
		return "", t, false
	}
	parts := strings.Split(path.Base(key), ".")
	if len(parts) < 2 || len(parts) > 3 || !validWriter(parts[0]) || len(parts[1]) != 16 {
		return "", t, false
	}
	seq, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || seq <= 0 {
		return "", t, false
	}
	t = tip{seq: seq, key: key}
	if len(parts) == 3 {
		rec, err := hex.DecodeString(parts[2])
		if err != nil || len(rec) > maxInline || (&segment{}).decode(append([]byte(segmentMagic), rec...)) != nil {
			return "", t, false
		}
		t.inline = append([]byte(segmentMagic), rec...)
	}
	return parts[0], t, true
}

// parseBatchKey reads the seq of a key written by batchKey.
func parseBatchKey(key string) (seq int64, ok bool) {
	s := path.Base(key)
	if len(s) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	return seq, err == nil && seq > 0
}

func validWriter(w string) bool {
	if len(w) != 16 {
		return false
	}
	_, err := hex.DecodeString(w)
	return err == nil
}

func newWriterID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logWriter is the log of a Set: what waits to be committed, and where
// the log stands.
type logWriter struct {
	mu       sync.Mutex
	id       string
	seq      int64 // the last seq used
	last     time.Time
	pending  segment
	waiters  []chan error
	flushing bool
	// tip is the key of the last tip written: a commit deletes it.
	tip string
}

// position is the writer's id and last seq: a sync skips its own batches.
func (w *logWriter) position() (string, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id, w.seq
}

// appendLog adds what add appends to the set's log, and returns once the
// batch holding it is committed (or failed). A caller waits at most
// appendWait (a commit behind a slow one); the commit goes on.
func (s *Store) appendLog(add func(g *segment)) error {
	w := &s.set.log
	done := make(chan error, 1)
	w.mu.Lock()
	add(&w.pending)
	w.waiters = append(w.waiters, done)
	if !w.flushing {
		w.flushing = true
		go s.commitLoop()
	}
	w.mu.Unlock()
	timer := time.NewTimer(s.appendWait)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("jwt: storing revocations: no answer from the storage within %s", s.appendWait)
	}
}

// commitLoop commits what is pending, batch after batch, until nothing
// is.
func (s *Store) commitLoop() {
	w := &s.set.log
	for {
		w.mu.Lock()
		if len(w.waiters) == 0 {
			w.flushing = false
			w.mu.Unlock()
			return
		}
		g, waiters := w.pending, w.waiters
		w.pending, w.waiters = segment{}, nil
		now := s.now()
		if w.id == "" || now.Sub(w.last) > writerIdle || now.Before(w.last.Add(-writerIdle)) {
			w.id, w.seq = newWriterID(), 0
		}
		w.seq++
		w.last = now
		id, seq, prev := w.id, w.seq, w.tip
		if seq == 1 {
			prev = "" // a new log: the old one's tip stays until it is closed
		}
		w.mu.Unlock()

		tip, err := s.commit(id, seq, &g, prev, now)
		if err == nil {
			w.mu.Lock()
			w.tip = tip
			w.mu.Unlock()
		}
		for _, c := range waiters {
			c <- err
		}
	}
}

// commit writes batch seq of writer id and its tip, then deletes the
// previous tip, prev; it returns the new tip's key.
func (s *Store) commit(id string, seq int64, g *segment, prev string, now time.Time) (string, error) {
	ctx := context.Background()
	key := batchKey(id, seq)
	err := withStorageTimeout(ctx, func(ctx context.Context) error { return s.storage.Store(ctx, key, g.encode()) })
	if err == nil {
		key = tipKey(id, seq, g)
		value := fmt.Appendf(nil, `{"seq":%d,"at":%d}`, seq, now.Unix())
		err = withStorageTimeout(ctx, func(ctx context.Context) error { return s.storage.Store(ctx, key, value) })
	}
	if err != nil {
		s.logger.Error("storing revocations failed: they hold on this instance only", zap.String("key", key),
			zap.Int("entries", g.len()), zap.Error(err))
		return "", fmt.Errorf("jwt: storing revocations: %w", err)
	}
	if prev != "" {
		err := withStorageTimeout(ctx, func(ctx context.Context) error { return s.storage.Delete(ctx, prev) })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger.Warn("deleting a replaced revocation log tip failed; a compaction will", zap.String("key", prev), zap.Error(err))
		}
	}
	return key, nil
}

// listTips lists the tips folder: each writer's last seq, the tips that
// a later one replaced (left by a delete that failed), and keys that are
// not tips.
func (s *Store) listTips(ctx context.Context) (tips map[string]tip, stale, unknown []string, err error) {
	keys, err := s.list(ctx, tipPrefix, false)
	if err != nil {
		return nil, nil, nil, err
	}
	tips = make(map[string]tip, len(keys))
	for _, key := range keys {
		w, t, ok := parseTipKey(key)
		if !ok {
			unknown = append(unknown, key)
			continue
		}
		if old, had := tips[w]; had {
			if old.seq > t.seq {
				old, t = t, old
			}
			stale = append(stale, old.key)
		}
		tips[w] = t
	}
	return tips, stale, unknown, nil
}

// syncLogs reads the batches written since the set's last sync: it lists
// the tips and Loads, in each log, the batches after the set's position
// (or after what the head says is folded, when that is further).
func (s *Store) syncLogs(ctx context.Context) error {
	v := &s.set.view
	tips, _, unknown, err := s.listTips(ctx)
	if err != nil {
		return err
	}
	for _, key := range unknown {
		s.noteUnrecognized(key)
	}
	ownID, ownSeq := s.set.log.position()
	var want []string
	var inline segment
	cursors := make(map[string]int64, len(tips))
	for w, t := range tips {
		from := max(v.cursors[w], v.folded[w])
		if w == ownID {
			from = max(from, ownSeq)
		}
		// at most passBatches of a log per sync: the rest at the next
		// (a reader far behind, or a tip whose seq is not believable)
		to := min(t.seq, from+passBatches)
		cursors[w] = max(from, to)
		for seq := from + 1; seq <= to; seq++ {
			if seq == t.seq && t.inline != nil {
				_ = inline.decode(t.inline) // checked by parseTipKey
				continue
			}
			want = append(want, batchKey(w, seq))
		}
	}
	s.mergeSegment(&inline)
	missing, err := s.readBatches(ctx, want)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		// folded and deleted since the head was read: the head says so
		// now, and its new segments hold them
		if err := s.syncHead(ctx); err != nil {
			return err
		}
		for _, key := range missing {
			w, _ := path.Split(key)
			w = path.Base(w)
			if seq, _ := parseBatchKey(key); seq > v.folded[w] {
				s.logger.Debug("a revocation batch was never written (a failed commit)", zap.String("key", key))
			}
		}
	}
	v.cursors = cursors
	return nil
}

// readBatches loads batches, several at once, and merges them; it returns
// the keys that do not exist.
func (s *Store) readBatches(ctx context.Context, keys []string) (missing []string, err error) {
	var g segment
	var mu sync.Mutex
	err = parallel(ctx, len(keys), func(ctx context.Context, i int) error {
		b, err := s.load(ctx, keys[i])
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, keys[i])
		case err != nil:
			return fmt.Errorf("loading %s: %w", keys[i], err)
		default:
			if err := g.decode(b); err != nil {
				s.noteUnrecognized(keys[i])
			}
		}
		return nil
	})
	s.mergeSegment(&g)
	return missing, err
}
