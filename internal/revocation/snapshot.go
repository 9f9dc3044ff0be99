package revocation

// The compacted layout. Revocations, identity revocations and rotation
// records are appended to the log of the instance that made them
// (log.go), and, while instances of an earlier version may share the
// storage, also written one object each in minute buckets (key.go). Both
// are compacted, by one instance at a time under the storage lock, into
// segment objects grouped by the hour in which their entries expire:
//
//	jwt/revocations/head                                the manifest
//	jwt/revocations/snapshots/<UTC hour of expiry>/<generation>
//
// The head (JSON) names every segment by hour, the generation it was
// written by, the last compacted bucket (compacted_through) and, per log,
// the last batch folded; an hour holds a few segments (a new one per
// compaction that had entries for it; all but the largest merged into one
// when there would be more than maxSegments). So a sync reads the head,
// the segments it has not read yet, and the batches not folded: never a
// listing of everything. An hour whose entries have all expired is dropped from the
// head and its segments deleted, whatever the number of entries in it.
//
// A log batch is a segment too.
//
// A segment is binary: segmentMagic, then records of fixed size, each a
// kind byte and big-endian fields:
//
//	'r' key(16) exp(4)                                  a revoked id
//	'i' key(16) before(4) exp(4)                        an identity's revocation
//	'f' fam(16) cur(16) prev(16) iat(4) end(4) at(4)    a rotation record
//
// where key is the first 16 bytes of the SHA-256 of the id or identity,
// and times are unix seconds.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

const (
	layoutPrefix   = "jwt/revocations"
	headKey        = layoutPrefix + "/head"
	snapshotPrefix = layoutPrefix + "/snapshots"
	// compactLock is the storage lock the compacting instance holds.
	compactLock  = "jwt_revocations_compact"
	hourLayout   = "2006010215"
	segmentMagic = "JWTREV1\n"
	// maxSegments is how many segments an hour may have before all but
	// its largest are merged into one.
	maxSegments = 4

	recRevoked  = 1 + 16 + 4
	recIdentity = 1 + 16 + 4 + 4
	recFamily   = 1 + 3*16 + 3*4
)

// head is the manifest of the compacted layout.
type head struct {
	Format     int   `json:"format"`
	Generation int64 `json:"generation"`
	// Created is when the first instance of this layout wrote the head.
	Created int64 `json:"created"`
	// LegacyUntil: until then (unix seconds), the per-entry objects of
	// compacted buckets are kept, for instances of an earlier version that
	// read only those (a rolling upgrade).
	LegacyUntil int64 `json:"legacy_until"`
	// CompactedThrough is the minute (unix seconds) of the last bucket
	// whose entries are all in segments; 0: none.
	CompactedThrough int64 `json:"compacted_through"`
	// CompactedAt is when the last compaction ran.
	CompactedAt int64 `json:"compacted_at"`
	// Hours names each hour's segments, by hour of expiry (hourLayout).
	Hours map[string][]segmentRef `json:"hours"`
	// Writers holds, for each open log (log.go), what is folded.
	Writers map[string]writerState `json:"writers,omitempty"`
}

// writerState is what the head says of a log: the last seq whose entries
// are in segments, and when a compaction last folded a batch of it.
type writerState struct {
	Folded int64 `json:"folded"`
	At     int64 `json:"at"`
}

type segmentRef struct {
	Name    string `json:"name"`
	Entries int    `json:"entries"`
}

func (h *head) segmentCount() int {
	n := 0
	for _, segs := range h.Hours {
		n += len(segs)
	}
	return n
}

func jsonHead(h *head) ([]byte, error) { return json.Marshal(h) }

func parseHead(b []byte) (*head, error) {
	var h head
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("reading %s: %w", headKey, err)
	}
	if h.Format != 1 {
		return nil, fmt.Errorf("reading %s: format %d is not known to this version", headKey, h.Format)
	}
	if h.Hours == nil {
		h.Hours = map[string][]segmentRef{}
	}
	if h.Writers == nil {
		h.Writers = map[string]writerState{}
	}
	return &h, nil
}

// hourOf is the hour (hourLayout) of the unix time t.
func hourOf(t int64) string { return time.Unix(t, 0).UTC().Format(hourLayout) }

// hourEnd is the end of an hour named by hourOf, in unix seconds.
func hourEnd(hour string) (int64, bool) {
	t, err := time.Parse(hourLayout, hour)
	if err != nil {
		return 0, false
	}
	return t.Add(time.Hour).Unix(), true
}

// segmentKey is the key of the segment of an hour written by a
// generation. An hour's segments share a folder, so that an expired hour
// goes with one Delete (certmagic's Delete removes a key and every key
// under it).
func segmentKey(hour string, generation int64) string {
	return hourFolder(hour) + "/" + strconv.FormatInt(generation, 10)
}

func hourFolder(hour string) string { return snapshotPrefix + "/" + hour }

// segment is the content of one or more segment objects.
type segment struct {
	ids      []slot[uint32]
	idents   []slot[identityValue]
	families []familyRecord
}

func (g *segment) len() int { return len(g.ids) + len(g.idents) + len(g.families) }

func (g *segment) encode() []byte {
	b := make([]byte, 0, len(segmentMagic)+len(g.ids)*recRevoked+len(g.idents)*recIdentity+len(g.families)*recFamily)
	b = append(b, segmentMagic...)
	for _, s := range g.ids {
		b = append(b, 'r')
		b = append(b, s.k[:]...)
		b = binary.BigEndian.AppendUint32(b, s.v)
	}
	for _, s := range g.idents {
		b = append(b, 'i')
		b = append(b, s.k[:]...)
		b = binary.BigEndian.AppendUint32(b, s.v.before)
		b = binary.BigEndian.AppendUint32(b, s.v.exp)
	}
	for i := range g.families {
		v := valueOf(&g.families[i])
		b = append(b, 'f')
		b = append(b, g.families[i].fam[:]...)
		b = append(b, v.cur[:]...)
		b = append(b, v.prev[:]...)
		b = binary.BigEndian.AppendUint32(b, v.iat)
		b = binary.BigEndian.AppendUint32(b, v.end)
		b = binary.BigEndian.AppendUint32(b, v.at)
	}
	return b
}

var errSegment = errors.New("not a revocation segment")

// decode appends the records of b to g.
func (g *segment) decode(b []byte) error {
	if !strings.HasPrefix(string(b), segmentMagic) {
		return errSegment
	}
	b = b[len(segmentMagic):]
	for len(b) > 0 {
		switch b[0] {
		case 'r':
			if len(b) < recRevoked {
				return errSegment
			}
			var s slot[uint32]
			copy(s.k[:], b[1:17])
			s.v = binary.BigEndian.Uint32(b[17:])
			g.ids = append(g.ids, s)
			b = b[recRevoked:]
		case 'i':
			if len(b) < recIdentity {
				return errSegment
			}
			var s slot[identityValue]
			copy(s.k[:], b[1:17])
			s.v.before = binary.BigEndian.Uint32(b[17:])
			s.v.exp = binary.BigEndian.Uint32(b[21:])
			g.idents = append(g.idents, s)
			b = b[recIdentity:]
		case 'f':
			if len(b) < recFamily {
				return errSegment
			}
			var v familyValue
			var fam familySum
			copy(fam[:], b[1:17])
			copy(v.cur[:], b[17:33])
			copy(v.prev[:], b[33:49])
			v.iat = binary.BigEndian.Uint32(b[49:])
			v.end = binary.BigEndian.Uint32(b[53:])
			v.at = binary.BigEndian.Uint32(b[57:])
			g.families = append(g.families, v.record(fam))
			b = b[recFamily:]
		default:
			return errSegment
		}
	}
	return nil
}

// addKey appends the entry of a bucket key to g, by kind; it returns
// the entry's expiry, and whether the key was one.
func (g *segment) addKey(key string) (exp int64, ok bool) {
	if e, ok := parseEntryKey(key); ok {
		g.ids = append(g.ids, slot[uint32]{keyOf(&e.sum), unix32(e.exp)})
		return e.exp, true
	}
	if e, ok := parseIdentityKey(key); ok {
		g.idents = append(g.idents, slot[identityValue]{keyOf(&e.sum), identityValue{unix32(e.before), unix32(e.exp)}})
		return e.exp, true
	}
	if r, ok := parseFamilyKey(key); ok {
		g.families = append(g.families, r)
		return r.end, true
	}
	return 0, false
}

// byHour splits g's entries by their hour of expiry, leaving out those
// that expired before cutoff.
func (g *segment) byHour(cutoff int64) map[string]*segment {
	out := map[string]*segment{}
	at := func(exp int64) *segment {
		h := hourOf(exp)
		if out[h] == nil {
			out[h] = &segment{}
		}
		return out[h]
	}
	for _, s := range g.ids {
		if int64(s.v) >= cutoff {
			at(int64(s.v)).ids = append(at(int64(s.v)).ids, s)
		}
	}
	for _, s := range g.idents {
		if int64(s.v.exp) >= cutoff {
			at(int64(s.v.exp)).idents = append(at(int64(s.v.exp)).idents, s)
		}
	}
	for _, r := range g.families {
		if r.end >= cutoff {
			at(r.end).families = append(at(r.end).families, r)
		}
	}
	return out
}

// dedupe keeps one record per key: the later exp, the later identity
// revocation, the family's newest record. superseded, when not nil,
// reports family records that a newer one elsewhere replaces: they are
// left out.
func (g *segment) dedupe(superseded func(r *familyRecord) bool) {
	ids := map[key16]uint32{}
	for _, s := range g.ids {
		if old, ok := ids[s.k]; !ok || s.v > old {
			ids[s.k] = s.v
		}
	}
	g.ids = g.ids[:0]
	for k, v := range ids {
		g.ids = append(g.ids, slot[uint32]{k, v})
	}
	idents := map[key16]identityValue{}
	for _, s := range g.idents {
		if old, ok := idents[s.k]; !ok || identityBetter(&s.v, &old) {
			idents[s.k] = s.v
		}
	}
	g.idents = g.idents[:0]
	for k, v := range idents {
		g.idents = append(g.idents, slot[identityValue]{k, v})
	}
	fams := map[familySum]familyRecord{}
	for _, r := range g.families {
		if old, ok := fams[r.fam]; !ok || r.supersedes(&old) {
			fams[r.fam] = r
		}
	}
	g.families = g.families[:0]
	for _, r := range fams {
		if superseded == nil || !superseded(&r) {
			g.families = append(g.families, r)
		}
	}
	// a stable order, so that equal contents encode alike
	sortSlots(g.ids)
	sortSlots(g.idents)
	sort.Slice(g.families, func(i, j int) bool {
		a, b := key16(g.families[i].fam), key16(g.families[j].fam)
		return a.less(&b)
	})
}

// newHead is the head a first compaction (or start) writes, given the
// listing of the bucket folder: on storage that instances of an earlier
// version wrote to, their layout is kept for the legacy hold.
func (s *Store) newHead(now time.Time, buckets []string) *head {
	h := &head{Format: 1, Created: now.Unix(), Hours: map[string][]segmentRef{}, Writers: map[string]writerState{}}
	for _, name := range buckets {
		if _, ok := parseBucketKey(name); ok && s.legacyHold > 0 {
			h.LegacyUntil = now.Add(s.legacyHold).Unix()
			break
		}
	}
	return h
}

// ensureHead writes the head at the first start on a storage, so that
// the instance knows at once whether earlier versions wrote to it (and
// writes only its log when not). Another instance holding the lock, or a
// failure, leaves that to the first compaction: until then this instance
// writes both layouts, which costs storage calls but loses nothing.
func (s *Store) ensureHead(ctx context.Context) {
	unlock, ok, err := s.tryLock(ctx)
	if err != nil || !ok {
		return
	}
	defer unlock()
	h, err := s.loadHead(ctx)
	if err != nil || h != nil {
		return
	}
	names, err := s.list(ctx, keyPrefix, false)
	if err != nil {
		return
	}
	value, err := jsonHead(s.newHead(s.now(), names))
	if err != nil {
		return
	}
	if err := withStorageTimeout(ctx, func(ctx context.Context) error { return s.storage.Store(ctx, headKey, value) }); err != nil {
		s.logger.Warn("writing the revocation head failed; the first compaction will", zap.Error(err))
	}
}
