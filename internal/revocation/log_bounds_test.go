package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// blockingStorage holds every Store until release is closed.
type blockingStorage struct {
	*testkit.Storage
	release chan struct{}
}

func (b *blockingStorage) Store(ctx context.Context, key string, value []byte) error {
	<-b.release
	return b.Storage.Store(ctx, key, value)
}

// A storage that does not answer fails the revoking caller after
// appendWait (the logout answers 503) instead of holding it; the commit
// goes on, and once the storage answers the revocation is stored.
func TestLogCallerWaitIsBounded(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	cfg := testConfig(clock)
	cfg.appendWait = 50 * time.Millisecond
	s := &blockingStorage{testkit.NewStorage(t, dir, "w"), make(chan struct{})}
	w := testOpen(t, s.Storage, cfg, nil) // starts on the storage while it answers
	w.storage = s
	err := w.Revoke(context.Background(), "slow", clock.Now().Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("a revocation on a storage that does not answer returned %v", err)
	}
	if !w.IsRevoked("slow") {
		t.Fatal("the revocation does not hold on this instance")
	}
	close(s.release)
	// the commit that was waiting lands: the next caller's commit follows
	// it, so once that returns both are stored
	if err := w.Revoke(context.Background(), "next", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"slow", "next"} {
		if found, err := LookupIn(context.Background(), s.Storage, clock.Now(), "", id); err != nil || !found.ID {
			t.Fatalf("%s is not stored: %+v %v", id, found, err)
		}
	}
}

// A tip's name holds its batch when the batch is small, and stays within
// a file name's 255 bytes; names that are not tips are refused.
func TestTipKeys(t *testing.T) {
	w := newWriterID()
	var small, large, family segment
	for i := range 10 {
		sum := sha256.Sum256(fmt.Append(nil, "id-", i))
		slot := slot[uint32]{keyOf(&sum), 1_700_000_000}
		if i < 4 {
			small.ids = append(small.ids, slot)
		}
		large.ids = append(large.ids, slot)
	}
	family.families = append(family.families, familyRecord{fam: sumFamily("f"), cur: sumFamily("c"), prev: sumFamily("p"), iat: 1, end: 2, at: 3})
	for _, c := range []struct {
		name   string
		g      *segment
		inline bool
	}{{"four ids", &small, true}, {"ten ids", &large, false}, {"a rotation record", &family, true}} {
		key := tipKey(w, 7, c.g)
		if len(path.Base(key)) > 255 {
			t.Fatalf("%s: a name of %d bytes", c.name, len(path.Base(key)))
		}
		writer, tp, ok := parseTipKey(key)
		if !ok || writer != w || tp.seq != 7 || tp.key != key || (tp.inline != nil) != c.inline {
			t.Fatalf("%s: %q read as %q %+v %v", c.name, key, writer, tp, ok)
		}
		if c.inline && !bytes.Equal(tp.inline, c.g.encode()) {
			t.Fatalf("%s: the inline records differ", c.name)
		}
	}
	for _, bad := range []string{
		tipPrefix + "/" + w,                             // no seq
		tipPrefix + "/" + w + ".7",                      // a short seq
		tipPrefix + "/" + w + ".0000000000000000",       // seq 0
		tipPrefix + "/xyz.0000000000000007",             // not a writer id
		tipPrefix + "/" + w + ".0000000000000007.zz",    // not hex
		tipPrefix + "/" + w + ".0000000000000007.72",    // not records
		tipPrefix + "/" + w + ".0000000000000007.01.02", // four parts
		logPrefix + "/" + w + ".0000000000000007",       // not in the tips folder
	} {
		if _, _, ok := parseTipKey(bad); ok {
			t.Errorf("%q read as a tip", bad)
		}
	}
}

// A sync reads at most passBatches of a log: a tip that claims a seq far
// ahead (a reader far behind, or a tip nobody wrote) costs a bounded
// number of Loads per sync, and the revocations of the other logs still
// arrive.
func TestSyncReadsABoundedPartOfALog(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	w := testOpen(t, testkit.NewStorage(t, dir, "w"), testConfig(clock), nil)
	r, c := countingOpen(t, dir, clock)
	bogus := tipKey(newWriterID(), 1_000_000_000_000, &segment{})
	if err := c.Store(context.Background(), bogus, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := w.Revoke(context.Background(), "real", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := c.Counts()
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.Counts().Sub(before); got.Loads > passBatches+4 {
		t.Fatalf("a sync with a tip a trillion batches ahead made %d Loads", got.Loads)
	}
	if !r.IsRevoked("real") {
		t.Fatal("the other log's revocation did not arrive")
	}
}
