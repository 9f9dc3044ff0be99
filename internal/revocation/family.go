package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Refresh-token rotation keeps one record per token family, not one
// revocation per rotated token: the family's current generation (the jti
// of its newest refresh token and when it was minted) and the generation
// that one replaced. Presenting an older generation is the reuse signal
// (RFC 9700 4.14.2), and the family is revoked once, as an ordinary
// revocation of the family id. So what rotation stores, once compacted,
// grows with the live families, never with the number of refreshes.

const (
	// Family records are appended to the logs like revocations (log.go);
	// a compaction keeps the newest record of each family. In the
	// per-entry layout of earlier versions (written during the legacy
	// hold) a record's key is
	//
	//	jwt/revoked/<bucket>/<fam>.<cur>.<prev>.<iat>.<end>
	//
	// fam, cur and prev are the first 16 bytes of the SHA-256 of the
	// family id and of the current and previous jti, in hex; iat is when
	// the current generation was minted (and the previous one replaced),
	// end when every token of the family minted so far has expired (the
	// current generation's exp), both in unix seconds; the bucket is the
	// UTC minute of the write. A revocation's name has one dot and a
	// 64-digit hash, so the two never read as each other. A rotation
	// writes a new key and deletes the one it replaces.
	//
	// familySumSize is how much of the SHA-256 a record keeps of each id:
	// 128 bits, so that a key stays far below file name limits.
	familySumSize = 16
)

// familySum identifies a family, or a jti within a family's record.
type familySum [familySumSize]byte

func sumFamily(id string) familySum {
	full := sha256.Sum256(stringBytes(id))
	var s familySum
	copy(s[:], full[:familySumSize])
	return s
}

// familyRecord is the rotation state of one family, as named in storage.
type familyRecord struct {
	fam, cur, prev familySum
	iat, end       int64
	// at is the minute of the write (unix seconds): the key's bucket.
	at int64
}

func (r *familyRecord) key() string {
	var b strings.Builder
	b.Grow(len(keyPrefix) + 15 + 3*2*familySumSize + 26)
	b.WriteString(bucketKey(time.Unix(r.at, 0)))
	b.WriteByte('/')
	b.WriteString(hex.EncodeToString(r.fam[:]))
	b.WriteByte('.')
	b.WriteString(hex.EncodeToString(r.cur[:]))
	b.WriteByte('.')
	b.WriteString(hex.EncodeToString(r.prev[:]))
	b.WriteByte('.')
	b.WriteString(strconv.FormatInt(r.iat, 10))
	b.WriteByte('.')
	b.WriteString(strconv.FormatInt(r.end, 10))
	return b.String()
}

// parseFamilyKey reads a storage key written by familyRecord.key.
func parseFamilyKey(key string) (familyRecord, bool) {
	var r familyRecord
	dir, name := path.Split(key)
	bucket, ok := parseBucketKey(strings.TrimSuffix(dir, "/"))
	if !ok {
		return r, false
	}
	r.at = bucket.Unix()
	parts := strings.Split(name, ".")
	if len(parts) != 5 {
		return r, false
	}
	for i, dst := range []*familySum{&r.fam, &r.cur, &r.prev} {
		if len(parts[i]) != 2*familySumSize {
			return r, false
		}
		if _, err := hex.Decode(dst[:], []byte(parts[i])); err != nil {
			return r, false
		}
	}
	for i, dst := range []*int64{&r.iat, &r.end} {
		text := parts[3+i]
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || n <= 0 || text[0] == '+' {
			return r, false
		}
		*dst = n
	}
	return r, true
}

// familyValue is a family's record as the set's table keeps it (keyed by
// fam): 44 bytes, times in unix seconds.
type familyValue struct {
	cur, prev    familySum
	iat, end, at uint32
}

func valueOf(r *familyRecord) familyValue {
	return familyValue{cur: r.cur, prev: r.prev, iat: unix32(r.iat), end: unix32(r.end), at: unix32(r.at)}
}

func (v *familyValue) record(fam familySum) familyRecord {
	return familyRecord{fam: fam, cur: v.cur, prev: v.prev, iat: int64(v.iat), end: int64(v.end), at: int64(v.at)}
}

// familyBetter is the table's rule for families: supersedes.
func familyBetter(v, old *familyValue) bool {
	var fam familySum
	r, o := v.record(fam), old.record(fam)
	return r.supersedes(&o)
}

// supersedes reports whether r is a later state of its family than o. A
// record that succeeds o directly (its previous generation is o's
// current one) supersedes it whatever the clocks say; otherwise the later
// iat wins, and between two rotations of one generation in the same
// second (two instances before a sync) the larger current jti hash: a
// choice every instance makes alike.
func (r *familyRecord) supersedes(o *familyRecord) bool {
	switch {
	case r.prev == o.cur && r.cur != o.cur:
		return true
	case o.prev == r.cur && o.cur != r.cur:
		return false
	case r.iat != o.iat:
		return r.iat > o.iat
	}
	return bytes.Compare(r.cur[:], o.cur[:]) > 0
}

// Verdict is what a refresh of a family's token may do.
type Verdict int

const (
	// Rotate: mint a successor and record it with Rotated.
	Rotate Verdict = iota
	// Keep: within the grace; answer an access token only, no new
	// refresh token, and write nothing.
	Keep
	// Reuse: an older generation, or the previous one after the grace:
	// revoke the family.
	Reuse
)

func (v Verdict) String() string {
	switch v {
	case Rotate:
		return "rotate"
	case Keep:
		return "keep"
	case Reuse:
		return "reuse"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Refresh says what a refresh with the token jti of family, minted at
// iat (unix seconds), may do now, given grace:
//
//   - the current generation (or a token of a family with no record yet: a
//     login's token, or one minted before rotation state was kept; or one
//     newer than the record, rotated on another instance not synced yet)
//     rotates, unless it was minted less than grace ago: then Keep. So a
//     family rotates, and writes, at most once per grace.
//   - the previous generation within grace of being replaced: Keep (a
//     second tab that sent it at the same moment as the rotating one).
//   - the previous generation after that, or any older one: Reuse.
//
// The caller holds LockFamily(family).
func (s *Store) Refresh(family, jti string, iat int64, grace time.Duration) Verdict {
	now := s.now()
	rec, ok := s.set.family(sumFamily(family))
	j := sumFamily(jti)
	young := func(t int64) bool { return now.Before(time.Unix(t, 0).Add(grace)) }
	switch {
	case !ok || j == rec.cur || iat > rec.iat:
		if young(iat) {
			return Keep
		}
		return Rotate
	case j == rec.prev && young(rec.iat):
		return Keep
	}
	return Reuse
}

// LockFamily serializes the refreshes of one family on this instance (and
// in the configurations of a reload, which share the set); it returns the
// unlock. Families share a fixed number of locks, so the memory is
// constant.
func (s *Store) LockFamily(family string) (unlock func()) {
	mu := &s.set.familyLocks[sumFamily(family)[0]]
	mu.Lock()
	return mu.Unlock
}

// Rotated records that family's current generation is now cur, minted at
// iat, replacing prev, with end the current generation's exp. It appends
// the new record to the set's log (a compaction keeps the newest record
// of a family); in the layout of earlier versions it also writes the
// record's own object and deletes the one this instance knew. An error
// means the write failed and nothing changed: the caller must not hand
// out cur. The caller holds LockFamily(family).
func (s *Store) Rotated(ctx context.Context, family, prev, cur string, iat, end time.Time) error {
	if family == "" || prev == "" || cur == "" {
		return errors.New("jwt: rotation needs a family and two token ids")
	}
	now := s.now()
	rec := familyRecord{
		fam: sumFamily(family), cur: sumFamily(cur), prev: sumFamily(prev),
		iat: iat.Unix(), end: end.Unix(), at: now.Truncate(time.Minute).Unix(),
	}
	if rec.end < rec.iat {
		rec.end = rec.iat
	}
	old, hadOld := s.set.family(rec.fam)
	if s.storage != nil {
		value := fmt.Appendf(nil, `{"family_sha256_128":%q,"iat":%d,"end":%d,"rotated_at":%d}`,
			hex.EncodeToString(rec.fam[:]), rec.iat, rec.end, now.Unix())
		err := s.persist(ctx, now, rec.key(), value, func(g *segment) { g.families = append(g.families, rec) })
		if err != nil {
			return err
		}
	}
	s.set.putFamily(rec)
	if s.storage != nil && s.legacy(now) && hadOld && old.key() != rec.key() {
		oldKey := old.key()
		err := withStorageTimeout(context.WithoutCancel(ctx), func(ctx context.Context) error {
			return s.storage.Delete(ctx, oldKey)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger.Warn("deleting a replaced rotation record failed; a compaction will", zap.String("key", oldKey), zap.Error(err))
		}
	}
	return nil
}

// Families is the number of family records in memory.
func (s *Store) Families() int { return s.set.familyCount() }

// Revoked is the number of revoked ids in memory.
func (s *Store) Revoked() int { return s.set.len() }
