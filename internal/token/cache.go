package token

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
)

// DefaultCacheSize is how many verified tokens the cache keeps by default.
// An entry costs about the token's size twice over plus its decoded
// claims: roughly 2 KiB for a typical token, so 20 MiB at this bound.
const DefaultCacheSize = 10000

// cacheShards spreads entries over independently locked maps, so that
// cores do not contend on one lock.
const cacheShards = 16

// Cache remembers tokens whose signature and claims verified, keyed by
// the whole token, so that a token seen again skips decoding and the
// signature check. Only successes are cached. A hit is still checked
// against the clock (exp, nbf, iat), the revocation store, freshness and
// the route's requirements on every request; an entry is dropped at its
// token's exp, and ignored once the trusted keys have changed.
type Cache struct {
	seed      maphash.Seed
	perShard  int
	shards    [cacheShards]cacheShard
	hits      atomic.Uint64
	misses    atomic.Uint64
	evictions atomic.Uint64
}

// Hits, Misses and Evictions count the cache's lookups that found a token,
// those that did not, and the tokens dropped to make room.
func (c *Cache) Hits() uint64      { return c.hits.Load() }
func (c *Cache) Misses() uint64    { return c.misses.Load() }
func (c *Cache) Evictions() uint64 { return c.evictions.Load() }

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	tok *Verified
	// keys is the key snapshot that verified the token: a cached token
	// is only good while the same keys are trusted.
	keys *keys.Snapshot
}

// NewCache makes a cache of at most size entries; size 0 or less
// disables it (nil cache).
func NewCache(size int) *Cache {
	if size <= 0 {
		return nil
	}
	per := (size + cacheShards - 1) / cacheShards
	c := &Cache{seed: maphash.MakeSeed(), perShard: per}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

func (c *Cache) shard(raw string) *cacheShard {
	return &c.shards[maphash.String(c.seed, raw)%cacheShards]
}

// Get returns the cached token for raw, if it was verified with keys and
// has not expired at now.
func (c *Cache) Get(raw string, keys *keys.Snapshot, now time.Time) *Verified {
	s := c.shard(raw)
	s.mu.RLock()
	e, ok := s.m[raw]
	s.mu.RUnlock()
	if !ok || e.keys != keys {
		c.misses.Add(1)
		return nil
	}
	if unixSeconds(now) >= e.tok.expAt {
		// past exp: drop it; a token still inside the leeway is parsed
		// again, so an entry never outlives its token
		s.mu.Lock()
		delete(s.m, raw)
		s.mu.Unlock()
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return e.tok
}

// Put caches a verified token, evicting an arbitrary entry of its shard
// when the shard is full (Go's map iteration order is randomized, which
// makes this random eviction: cheap, and no worse than LRU for tokens
// that are each replayed until they expire).
func (c *Cache) Put(tok *Verified, keys *keys.Snapshot) {
	s := c.shard(tok.Raw)
	s.mu.Lock()
	if _, ok := s.m[tok.Raw]; !ok && len(s.m) >= c.perShard {
		for k := range s.m {
			delete(s.m, k)
			c.evictions.Add(1)
			break
		}
	}
	s.m[tok.Raw] = cacheEntry{tok: tok, keys: keys}
	s.mu.Unlock()
}

// Bound is the most tokens the cache holds: its size rounded up to a
// whole number per shard.
func (c *Cache) Bound() int { return c.perShard * cacheShards }

// Len is the number of cached tokens.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
