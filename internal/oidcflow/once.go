package oidcflow

import (
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

	"github.com/caddyserver/certmagic"
)

// Once records that a transaction id was used, reporting false when it
// already was. Use must be atomic across everything that shares it: of
// any number of calls with one id before until, exactly one reports true.
// Finish passes a hash of the transaction's state as id, never the state.
type Once interface {
	Use(ctx context.Context, id string, until time.Time) (first bool, err error)
}

const (
	// onceBucketLayout names the folder of a marker: the UTC hour of its
	// until. A bucket is deleted whole, once every until in it is past.
	onceBucketLayout = "2006010215"
	onceBucket       = time.Hour
	// onceSweepGrace keeps a bucket this long after its last until, so an
	// instance whose clock runs behind still finds the markers it needs.
	onceSweepGrace = time.Hour
)

// StorageOnce is a Once kept in a certmagic.Storage, shared by the
// instances that share the storage. Each used id is a marker at
//
//	<prefix>/<UTC hour of until, 2006010215>/<hex sha256 of id>
//
// written under a storage lock named after the hash. Sweep deletes the
// buckets whose hour is past.
type StorageOnce struct {
	s      certmagic.Storage
	prefix string
	now    func() time.Time
}

// NewStorageOnce returns a Once on s, with its markers under prefix (for
// example "jwt/oidc/used"). now is the clock of Sweep; nil: time.Now.
func NewStorageOnce(s certmagic.Storage, prefix string, now func() time.Time) *StorageOnce {
	if now == nil {
		now = time.Now
	}
	return &StorageOnce{s: s, prefix: strings.TrimSuffix(prefix, "/"), now: now}
}

// Use implements Once: it takes the id's lock, and stores the marker
// unless it exists.
func (o *StorageOnce) Use(ctx context.Context, id string, until time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:])
	key := o.prefix + "/" + until.UTC().Format(onceBucketLayout) + "/" + h
	lock := o.prefix + "/" + h
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	if err := o.s.Lock(ctx, lock); err != nil {
		return false, fmt.Errorf("locking a transaction marker: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storageTimeout)
		defer cancel()
		_ = o.s.Unlock(ctx, lock)
	}()
	if o.s.Exists(ctx, key) {
		return false, nil
	}
	if err := o.s.Store(ctx, key, []byte(strconv.FormatInt(until.Unix(), 10))); err != nil {
		return false, fmt.Errorf("storing a transaction marker: %w", err)
	}
	return true, nil
}

// Sweep deletes the buckets of markers whose until is past (with an hour
// of grace for clocks that disagree), each as one recursive delete. Keys
// under the prefix that are not buckets are left alone.
func (o *StorageOnce) Sweep(ctx context.Context) error {
	keys, err := o.s.List(ctx, o.prefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing transaction markers: %w", err)
	}
	cutoff := o.now().Add(-onceBucket - onceSweepGrace)
	var errs []error
	for _, key := range keys {
		t, err := time.Parse(onceBucketLayout, path.Base(key))
		if err != nil || !t.Before(cutoff) {
			continue
		}
		if err := o.s.Delete(ctx, o.prefix+"/"+path.Base(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("deleting old transaction markers: %w", errors.Join(errs...))
	}
	return nil
}
