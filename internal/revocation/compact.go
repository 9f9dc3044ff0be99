package revocation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

const (
	// closeDelay: a minute bucket is compacted once its minute ended this
	// long ago. Writers with clocks within clockSkew no longer write to
	// it, and instances of an earlier version have read it (their routine
	// sync within 30 s, their full listing within 5 minutes).
	closeDelay = 2 * time.Minute
	// compactEvery is how often a compaction is tried; the storage lock
	// and the head's compacted_at make one instance do it.
	compactEvery = time.Minute
	// DefaultLegacyHold is how long after the compacted layout is first
	// written the per-entry objects of compacted buckets are kept, for
	// instances of an earlier version (a rolling upgrade: they read only
	// those, at start).
	DefaultLegacyHold = 24 * time.Hour
	// passKeys bounds the bucket entries one compaction reads, so that a
	// backlog (the first compaction of a large storage of an earlier
	// version) is worked off in several passes, each with its own bound.
	passKeys = 250_000
)

// CompactStats says what a compaction did.
type CompactStats struct {
	// Ran: this instance held the lock and compacted (false: another
	// instance holds it, or compacted a moment ago).
	Ran bool
	// Buckets and Keys: the minute buckets and entries read.
	Buckets, Keys int
	// Segments written; Deleted objects (entries, replaced and expired
	// segments, empty buckets).
	Segments, Deleted int
	// Dropped: the deletes of hours whose entries had all expired (one
	// per hour: its folder).
	Dropped int
	// More: a backlog remains for the next pass.
	More bool
	// Batches: the log batches folded (log.go).
	Batches int

	// folded are what the segments replace of the logs: batches, tips of
	// closed logs, replaced tips.
	folded []string
}

// bucketWork is a bucket a compaction reads.
type bucketWork struct {
	key    string
	minute int64
	// fresh: after compacted_through; otherwise a compacted bucket read
	// again for late entries (and, after the legacy hold, emptied).
	fresh bool
	keys  []string
	live  []bool
}

// maybeCompact starts a compaction in the background when none runs, none
// was tried by this store within compactEvery, and the head says none
// ran within compactEvery (or there is a backlog).
func (s *Store) maybeCompact(ctx context.Context) {
	if s.storage == nil || s.noCompaction {
		return
	}
	now := s.now()
	if now.Sub(s.loop.lastCompact) < compactEvery && !s.compactMore.Load() {
		return
	}
	s.set.syncMu.Lock()
	v := s.set.view
	s.set.syncMu.Unlock()
	if v.haveHead && now.Unix()-v.compactedAt < int64(compactEvery/time.Second) && !s.compactMore.Load() {
		return
	}
	if !s.loop.compacting.TryLock() {
		return
	}
	s.loop.lastCompact = now
	s.loop.wg.Go(func() {
		defer s.loop.compacting.Unlock()
		_, err := s.Compact(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("compacting revoked token ids in storage failed; will retry", zap.Error(err))
		}
	})
}

// Compact merges the closed minute buckets into segments by hour of
// expiry, writes the head, then deletes what the segments replace and
// what has expired. One instance at a time does it, under the storage
// lock; another holding the lock, or a compaction less than half a period
// ago, makes it return at once.
func (s *Store) Compact(ctx context.Context) (CompactStats, error) {
	var st CompactStats
	if s.storage == nil {
		return st, nil
	}
	unlock, ok, err := s.tryLock(ctx)
	if err != nil || !ok {
		return st, err
	}
	defer unlock()
	now := s.now()
	h, err := s.loadHead(ctx)
	if err != nil {
		return st, err
	}
	var names []string
	if h == nil {
		if names, err = s.list(ctx, keyPrefix, false); err != nil {
			return st, err
		}
		h = s.newHead(now, names)
	} else if now.Unix()-h.CompactedAt < int64(compactEvery/2/time.Second) && !s.compactMore.Load() && h.CompactedAt <= now.Unix() {
		return st, nil
	}
	st.Ran = true
	if names == nil {
		if names, err = s.list(ctx, keyPrefix, false); err != nil {
			return st, err
		}
	}
	holding := now.Unix() < h.LegacyUntil
	cutoff := now.Add(-s.keep).Unix()
	lastClosed := now.Add(-time.Minute - closeDelay).Unix()
	retire := now.Add(-bucketRetire).Unix()

	var fresh, again []*bucketWork
	for _, name := range names {
		t, ok := parseBucketKey(name)
		if !ok {
			continue
		}
		m := t.Unix()
		switch {
		case m > h.CompactedThrough && m <= lastClosed:
			fresh = append(fresh, &bucketWork{key: name, minute: m, fresh: true})
		case m <= h.CompactedThrough && !holding:
			again = append(again, &bucketWork{key: name, minute: m})
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].minute < fresh[j].minute })
	sort.Slice(again, func(i, j int) bool { return again[i].minute < again[j].minute })

	// read fresh buckets first, in order, then compacted ones, within the
	// pass's budget
	var g segment
	var work []*bucketWork
	through := h.CompactedThrough
	for _, list := range [][]*bucketWork{fresh, again} {
		for _, b := range list {
			if st.Keys >= passKeys {
				st.More = true
				break
			}
			keys, err := s.list(ctx, b.key, false)
			if err != nil {
				return st, err
			}
			for _, key := range keys {
				exp, ok := g.addKey(key)
				if !ok {
					continue // not ours to delete: logged by syncs
				}
				b.keys = append(b.keys, key)
				b.live = append(b.live, exp >= cutoff)
			}
			st.Buckets++
			st.Keys += len(keys)
			work = append(work, b)
			if b.fresh {
				through = b.minute
			}
		}
	}

	for _, b := range work {
		if b.fresh && len(b.keys) > 0 && s.legacyHold > 0 && b.minute > h.LegacyUntil+int64(2*clockSkew/time.Second) {
			// an instance of an earlier version wrote after the hold
			// ended (or on a storage that had no entry when the head was
			// made): keep its layout for as long again
			h.LegacyUntil, holding = now.Add(s.legacyHold).Unix(), true
			s.logger.Warn("an instance of an earlier version writes revocations to this storage; writing its layout too",
				zap.Time("until", time.Unix(h.LegacyUntil, 0)))
			break
		}
	}
	if err := s.foldLogs(ctx, h, &g, &st, now); err != nil {
		return st, err
	}

	// the new segments, by hour of expiry; an hour with maxSegments
	// already gets one merged segment instead
	gen := h.Generation + 1
	type object struct {
		key   string
		value []byte
	}
	var writes []object
	var replaced []string
	for hour, hg := range g.byHour(cutoff) {
		segs := h.Hours[hour]
		if len(segs)+1 > maxSegments {
			// merge all but the largest: a large segment (a mass
			// revocation's) is not written again, nor read again by every
			// instance, because small ones pile up beside it
			sort.Slice(segs, func(i, j int) bool { return segs[i].Entries > segs[j].Entries })
			keep := []segmentRef{segs[0]}
			for _, ref := range segs[1:] {
				b, err := s.load(ctx, ref.Name)
				if err != nil {
					return st, err
				}
				if err := hg.decode(b); err != nil {
					s.logger.Warn("skipping a revocation segment that cannot be read", zap.String("key", ref.Name), zap.Error(err))
				}
				replaced = append(replaced, ref.Name)
			}
			segs = keep
		}
		hg.dedupe(s.familySuperseded)
		if hg.len() == 0 {
			continue
		}
		key := segmentKey(hour, gen)
		writes = append(writes, object{key, hg.encode()})
		h.Hours[hour] = append(segs, segmentRef{Name: key, Entries: hg.len()})
	}
	for hour, segs := range h.Hours {
		if end, ok := hourEnd(hour); ok && end < cutoff {
			folder := hourFolder(hour)
			replaced = append(replaced, folder)
			st.Dropped++
			for _, ref := range segs {
				if !strings.HasPrefix(ref.Name, folder+"/") {
					// named before an hour's segments had a folder
					replaced = append(replaced, ref.Name)
					st.Dropped++
				}
			}
			delete(h.Hours, hour)
		}
	}
	for _, w := range writes {
		if err := withStorageTimeout(ctx, func(ctx context.Context) error { return s.storage.Store(ctx, w.key, w.value) }); err != nil {
			return st, err
		}
		st.Segments++
	}
	h.Generation, h.CompactedThrough, h.CompactedAt = gen, through, now.Unix()
	value, err := jsonHead(h)
	if err != nil {
		return st, err
	}
	if err := withStorageTimeout(ctx, func(ctx context.Context) error { return s.storage.Store(ctx, headKey, value) }); err != nil {
		return st, err
	}

	// now that the head names the segments, what they replace can go:
	// entries (all of them after the legacy hold, the expired ones during
	// it), replaced and expired segments, and old buckets left empty
	deletes := append(replaced, st.folded...)
	for _, b := range work {
		for i, key := range b.keys {
			if !holding || !b.live[i] {
				deletes = append(deletes, key)
			}
		}
		if len(b.keys) == 0 && b.minute <= retire {
			deletes = append(deletes, b.key)
		}
	}
	st.Deleted = s.deleteAll(ctx, deletes)
	s.compactMore.Store(st.More)
	s.logger.Debug("compacted revoked token ids", zap.Int("buckets", st.Buckets), zap.Int("entries", st.Keys),
		zap.Int("segments", st.Segments), zap.Int("deleted", st.Deleted), zap.Bool("more", st.More))
	return st, nil
}

// tryLock takes the compaction lock if it is free.
func (s *Store) tryLock(ctx context.Context) (unlock func(), ok bool, err error) {
	if tl, is := s.storage.(certmagic.TryLocker); is {
		ok, err = tl.TryLock(ctx, compactLock)
		if err != nil || !ok {
			return nil, false, err
		}
	} else {
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := s.storage.Lock(lctx, compactLock); err != nil {
			if lctx.Err() != nil && ctx.Err() == nil {
				return nil, false, nil // another instance holds it
			}
			return nil, false, err
		}
	}
	return func() {
		if err := s.storage.Unlock(context.WithoutCancel(ctx), compactLock); err != nil {
			s.logger.Warn("releasing the revocation compaction lock failed", zap.Error(err))
		}
	}, true, nil
}

// familySuperseded reports whether the set knows a newer record of r's
// family. The set holds a family record only once it is in storage, so
// the newer one is durable, and r can be left out of a segment.
func (s *Store) familySuperseded(r *familyRecord) bool {
	known, ok := s.set.family(r.fam)
	return ok && known.cur != r.cur && known.supersedes(r)
}

// deleteAll deletes keys, several at once; failures are logged (a later
// compaction or the expiry of the hour retries), and it returns how many
// went.
func (s *Store) deleteAll(ctx context.Context, keys []string) int {
	var n, failed atomic.Int64
	var firstErr atomic.Value
	_ = parallel(ctx, len(keys), func(ctx context.Context, i int) error {
		err := withStorageTimeout(ctx, func(ctx context.Context) error { return s.storage.Delete(ctx, keys[i]) })
		switch {
		case err == nil || errors.Is(err, fs.ErrNotExist):
			n.Add(1)
		default:
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
		return ctx.Err()
	})
	if f := failed.Load(); f > 0 {
		s.logger.Warn("deleting compacted or expired revocations failed; will retry", zap.Int64("failed", f), zap.Any("error", firstErr.Load()))
	}
	return int(n.Load())
}

// foldLogs reads, for a compaction, every log's batches after what the
// head says is folded, into g (within the pass's budget), and moves the
// head's positions. Logs folded and idle for writerRetire are closed:
// their tip goes, with any batch left behind by a commit that failed.
func (s *Store) foldLogs(ctx context.Context, h *head, g *segment, st *CompactStats, now time.Time) error {
	tips, stale, _, err := s.listTips(ctx)
	if err != nil {
		return err
	}
	st.folded = append(st.folded, stale...)
	for w := range h.Writers {
		if _, ok := tips[w]; !ok {
			delete(h.Writers, w) // closed by another compaction's deletes
		}
	}
	for w, tp := range tips {
		t := tp.seq
		ws := h.Writers[w]
		var keys []string
		for seq := ws.Folded + 1; seq <= t && st.Batches+len(keys) < passBatches; seq++ {
			keys = append(keys, batchKey(w, seq))
		}
		var mu sync.Mutex
		err := parallel(ctx, len(keys), func(ctx context.Context, i int) error {
			b, err := s.load(ctx, keys[i])
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a commit that failed
			}
			if err != nil {
				return fmt.Errorf("loading %s: %w", keys[i], err)
			}
			mu.Lock()
			defer mu.Unlock()
			n := g.len()
			if err := g.decode(b); err != nil {
				s.logger.Warn("skipping a revocation batch that cannot be read", zap.String("key", keys[i]), zap.Error(err))
			}
			st.Keys += g.len() - n
			return nil
		})
		if err != nil {
			return err
		}
		st.folded = append(st.folded, keys...)
		st.Batches += len(keys)
		if len(keys) > 0 {
			ws = writerState{Folded: ws.Folded + int64(len(keys)), At: now.Unix()}
		}
		if ws.Folded < t {
			st.More = true
		}
		if ws.Folded >= t && now.Unix()-ws.At > int64(writerRetire/time.Second) {
			// closed: its writer has taken a new id by now
			left, err := s.list(ctx, logPrefix+"/"+w, false)
			if err != nil {
				return err
			}
			st.folded = append(st.folded, left...)
			st.folded = append(st.folded, tp.key)
			delete(h.Writers, w)
			continue
		}
		h.Writers[w] = ws
	}
	return nil
}
