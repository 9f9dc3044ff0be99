package testkit

import (
	"context"
	"sync/atomic"

	"github.com/caddyserver/certmagic"
)

// CountingStorage wraps a storage and counts its calls, and the keys its
// listings returned: what a sync costs on a storage that bills requests
// (the revocation simulation converts the counts to requests of an
// S3-like and a Redis storage).
type CountingStorage struct {
	certmagic.Storage
	Lists, Loads, Stats, Stores, Deletes, ListedKeys atomic.Int64
}

// Counts is a snapshot of a CountingStorage's counters.
type Counts struct{ Lists, Loads, Stats, Stores, Deletes, ListedKeys int64 }

// Counts returns the counters now.
func (c *CountingStorage) Counts() Counts {
	return Counts{c.Lists.Load(), c.Loads.Load(), c.Stats.Load(), c.Stores.Load(), c.Deletes.Load(), c.ListedKeys.Load()}
}

// Sub is the difference of two snapshots.
func (a Counts) Sub(b Counts) Counts {
	return Counts{a.Lists - b.Lists, a.Loads - b.Loads, a.Stats - b.Stats, a.Stores - b.Stores, a.Deletes - b.Deletes, a.ListedKeys - b.ListedKeys}
}

func (c *CountingStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	c.Lists.Add(1)
	keys, err := c.Storage.List(ctx, prefix, recursive)
	c.ListedKeys.Add(int64(len(keys)))
	return keys, err
}

func (c *CountingStorage) Load(ctx context.Context, key string) ([]byte, error) {
	c.Loads.Add(1)
	return c.Storage.Load(ctx, key)
}

func (c *CountingStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	c.Stats.Add(1)
	return c.Storage.Stat(ctx, key)
}

func (c *CountingStorage) Store(ctx context.Context, key string, value []byte) error {
	c.Stores.Add(1)
	return c.Storage.Store(ctx, key, value)
}

func (c *CountingStorage) Delete(ctx context.Context, key string) error {
	c.Deletes.Add(1)
	return c.Storage.Delete(ctx, key)
}

// TryLock passes the wrapped storage's TryLock on, when it has one (the
// file system's does), so that wrapping does not change how a compaction
// takes its lock.
func (c *CountingStorage) TryLock(ctx context.Context, name string) (bool, error) {
	if tl, ok := c.Storage.(certmagic.TryLocker); ok {
		return tl.TryLock(ctx, name)
	}
	if err := c.Storage.Lock(ctx, name); err != nil {
		return false, err
	}
	return true, nil
}
