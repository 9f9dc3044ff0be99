package revocation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// clockSkew is how far the clocks of instances may disagree and still
	// have every revocation picked up by the routine sync.
	clockSkew = 30 * time.Second
	// maxWindow is the longest span of minute buckets a routine sync lists
	// one by one; after a longer gap (an outage, a suspended process) it
	// lists the bucket folder once and then the buckets not compacted yet.
	maxWindow = 5 * time.Minute
	// purgeEvery is how often expired entries are dropped from memory
	// (they do no harm meanwhile: their tokens have expired).
	purgeEvery = time.Minute
	// maxBackoff caps the wait between retries of a failing storage.
	maxBackoff = time.Minute
	// ioWorkers bounds the storage calls a sync or a compaction makes at
	// once (reading segments and buckets at start, deleting after a
	// compaction).
	ioWorkers = 8
)

// view is what a Set has read of the compacted layout (snapshot.go). The
// set's syncMu guards it.
type view struct {
	generation int64
	// compactedThrough is the head's: buckets up to it need no listing.
	compactedThrough int64
	compactedAt      int64
	haveHead         bool
	// loaded holds the segments already merged into the set.
	loaded map[string]struct{}
	// folded is the head's last folded seq of each log, cursors the set's
	// position in each (log.go).
	folded, cursors map[string]int64
	// headBytes is the head as last read: an unchanged one is not parsed
	// again.
	headBytes []byte
}

// sync refreshes the set from storage: the head and the segments it
// names that are new, then the batches of the logs written since the last
// sync (log.go). While instances of an earlier version may write to the
// storage (legacy, below), it first reads the minute buckets they write
// to, with room for clock skew; at the first sync, and after a gap longer
// than maxWindow, every bucket not compacted yet. Buckets are read before
// the head: a compaction writes its segments and the head before it
// deletes the entries they hold, so an entry missing from a bucket
// listing is in the head read after it.
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
		s.purgeDue(start, false)
		return nil
	}
	var err error
	switch {
	case !s.legacy(start):
	case set.lastSync.IsZero() || start.Before(set.lastSync) || start.Sub(set.lastSync) > maxWindow:
		err = s.syncOpen(ctx)
	default:
		err = s.syncWindow(ctx, set.lastSync.Add(-clockSkew), start.Add(clockSkew))
	}
	if err == nil {
		err = s.syncHead(ctx)
	}
	if err == nil {
		err = s.syncLogs(ctx)
	}
	if err != nil {
		return err
	}
	set.lastSync = start
	s.purgeDue(start, false)
	return nil
}

// legacy reports whether instances of an earlier version, which write
// and read one object per entry in minute buckets, may share the storage
// at now: before a head is read, and until the head's legacy_until. Then
// revocations are written in that layout too, and syncs list its buckets.
func (s *Store) legacy(now time.Time) bool {
	return now.Unix() < s.set.legacyUntil.Load()
}

// purgeDue drops expired entries from memory, at most every purgeEvery
// unless forced.
func (s *Store) purgeDue(now time.Time, force bool) {
	if !force && !s.set.lastPurge.IsZero() && now.Sub(s.set.lastPurge) < purgeEvery && !now.Before(s.set.lastPurge) {
		return
	}
	cutoff := now.Add(-s.keep).Unix()
	s.set.purge(cutoff)
	s.set.idents.purge(cutoff)
	s.set.purgeFamilies(cutoff)
	s.set.lastPurge = now
}

// syncWindow lists the buckets of the minutes from..to that are not
// compacted, and adds what is new.
func (s *Store) syncWindow(ctx context.Context, from, to time.Time) error {
	var buckets []string
	for m := from.Truncate(time.Minute); !m.After(to); m = m.Add(time.Minute) {
		if s.set.view.haveHead && m.Unix() <= s.set.view.compactedThrough {
			continue
		}
		buckets = append(buckets, bucketKey(m))
	}
	return s.readBuckets(ctx, buckets)
}

// syncOpen lists the bucket folder and reads every bucket that the head
// does not cover: at start, the buckets of the last few minutes (or, on
// storage of an earlier version not compacted yet, all of them); each
// listing has its own time bound, however many there are.
func (s *Store) syncOpen(ctx context.Context) error {
	through := s.set.view.compactedThrough
	if !s.set.view.haveHead {
		h, err := s.loadHead(ctx)
		if err != nil {
			return err
		}
		if h != nil {
			through = h.CompactedThrough
		}
	}
	names, err := s.list(ctx, keyPrefix, false)
	if err != nil {
		return err
	}
	var buckets []string
	for _, name := range names {
		t, ok := parseBucketKey(name)
		switch {
		case !ok && path.Dir(name) != keyPrefix:
			// a key deeper down (a storage whose listing is not by
			// folder): its bucket is listed in its own right
		case !ok:
			s.noteUnrecognized(name)
		case t.Unix() > through:
			buckets = append(buckets, name)
		}
	}
	return s.readBuckets(ctx, buckets)
}

// readBuckets lists buckets, several at once, and merges what they hold.
func (s *Store) readBuckets(ctx context.Context, buckets []string) error {
	var g segment
	var unknown []string
	var mu sync.Mutex
	err := parallel(ctx, len(buckets), func(ctx context.Context, i int) error {
		keys, err := s.list(ctx, buckets[i], false)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, key := range keys {
			if _, ok := g.addKey(key); !ok {
				unknown = append(unknown, key)
			}
		}
		return nil
	})
	for _, key := range unknown {
		s.noteUnrecognized(key)
	}
	s.mergeSegment(&g)
	return err
}

// mergeSegment adds entries read from storage to the set.
func (s *Store) mergeSegment(g *segment) {
	if n := s.set.mergeSlots(g.ids); n > 0 {
		s.logger.Debug("revocations from storage", zap.Int("added", n))
	}
	s.set.idents.mergeSlots(g.idents)
	if n := s.set.mergeFamilies(g.families); n > 0 {
		s.logger.Debug("refresh token rotations from storage", zap.Int("added", n))
	}
}

// syncHead reads the head and merges the segments it names that the set
// has not read. A segment that is gone (a compaction replaced it since
// the head was read) means a newer head: it is read again.
func (s *Store) syncHead(ctx context.Context) error {
	v := &s.set.view
	for try := 1; ; try++ {
		b, err := s.loadHeadBytes(ctx)
		if err != nil || b == nil {
			return err
		}
		if v.haveHead && bytes.Equal(b, v.headBytes) {
			return nil // unchanged: not even parsed again
		}
		h, err := parseHead(b)
		if err != nil {
			return err
		}
		if v.haveHead && h.Generation == v.generation {
			s.adoptHead(h, b)
			return nil
		}
		cutoff := s.now().Add(-s.keep).Unix()
		var names []string
		entries := 0
		current := make(map[string]struct{}, h.segmentCount())
		for hour, segs := range h.Hours {
			if end, ok := hourEnd(hour); ok && end < cutoff {
				continue // expired: a compaction deletes it
			}
			for _, ref := range segs {
				current[ref.Name] = struct{}{}
				if _, ok := v.loaded[ref.Name]; !ok {
					names = append(names, ref.Name)
					entries += ref.Entries
				}
			}
		}
		loaded, err := s.readSegments(ctx, names, entries)
		if v.loaded == nil {
			v.loaded = map[string]struct{}{}
		}
		for _, name := range loaded {
			v.loaded[name] = struct{}{}
		}
		if errors.Is(err, fs.ErrNotExist) && try < 3 {
			continue
		}
		if err != nil {
			return err
		}
		for name := range v.loaded {
			if _, ok := current[name]; !ok {
				delete(v.loaded, name)
			}
		}
		s.adoptHead(h, b)
		return nil
	}
}

// adoptHead makes h, read as b, the head the set's view is of: its
// segments are merged (or were).
func (s *Store) adoptHead(h *head, b []byte) {
	v := &s.set.view
	v.generation, v.compactedThrough, v.compactedAt, v.haveHead = h.Generation, h.CompactedThrough, h.CompactedAt, true
	v.headBytes = b
	v.folded = make(map[string]int64, len(h.Writers))
	for w, ws := range h.Writers {
		v.folded[w] = ws.Folded
	}
	s.set.legacyUntil.Store(h.LegacyUntil)
}

// readSegments loads segments, several at once, merges them, and returns
// the names it read (a segment that is not one is logged and counted as
// read: reading it again would not help).
func (s *Store) readSegments(ctx context.Context, names []string, entries int) ([]string, error) {
	// sized for the entries the head counts (revoked ids for the most
	// part), so that a start's million does not grow a slice by doubling;
	// a head that says more than 4 million is not believed
	g := segment{ids: make([]slot[uint32], 0, max(0, min(entries, 1<<22)))}
	var done, bad []string
	var mu sync.Mutex
	err := parallel(ctx, len(names), func(ctx context.Context, i int) error {
		b, err := s.load(ctx, names[i])
		if err != nil {
			return fmt.Errorf("loading %s: %w", names[i], err)
		}
		mu.Lock()
		defer mu.Unlock()
		if err := g.decode(b); err != nil {
			bad = append(bad, names[i])
		}
		done = append(done, names[i])
		return nil
	})
	for _, name := range bad {
		s.noteUnrecognized(name)
	}
	s.mergeSegment(&g)
	return done, err
}

// loadHead reads the head; nil when there is none (storage that no
// instance of this version has compacted yet).
func (s *Store) loadHead(ctx context.Context) (*head, error) {
	b, err := s.loadHeadBytes(ctx)
	if err != nil || b == nil {
		return nil, err
	}
	return parseHead(b)
}

// loadHeadBytes reads the head as stored; nil when there is none.
func (s *Store) loadHeadBytes(ctx context.Context) ([]byte, error) {
	b, err := s.load(ctx, headKey)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", headKey, err)
	}
	return b, nil
}

// parallel runs f for 0..n-1 on up to ioWorkers goroutines, and returns
// the first error (the others stop taking work).
func parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range min(n, ioWorkers) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				if err := f(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// load loads a key within the time bound.
func (s *Store) load(ctx context.Context, key string) ([]byte, error) {
	var b []byte
	err := withStorageTimeout(ctx, func(ctx context.Context) error {
		var err error
		b, err = s.storage.Load(ctx, key)
		return err
	})
	return b, err
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
