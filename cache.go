package jwtextended

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// defaultCacheSize is how many verified tokens the cache keeps by default.
// An entry costs about the token's size twice over plus its decoded
// claims: roughly 2 KiB for a typical token, so 20 MiB at this bound.
const defaultCacheSize = 10000

// cacheShards spreads entries over independently locked maps, so that
// cores do not contend on one lock.
const cacheShards = 16

// tokenCache remembers tokens whose signature and claims verified, keyed by
// the whole token, so that a token seen again skips decoding and the
// signature check. Only successes are cached. A hit is still checked
// against the clock (exp, nbf, iat), the revocation store, freshness and
// the route's requirements on every request; an entry is dropped at its
// token's exp, and ignored once the trusted keys have changed.
type tokenCache struct {
	seed      maphash.Seed
	perShard  int
	shards    [cacheShards]cacheShard
	hits      atomic.Uint64
	misses    atomic.Uint64
	evictions atomic.Uint64
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	tok *verifiedToken
	// keys is the key snapshot that verified the token: a cached token
	// is only good while the same keys are trusted.
	keys *keySnapshot
}

// newTokenCache makes a cache of at most size entries; size 0 or less
// disables it (nil cache).
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	per := (size + cacheShards - 1) / cacheShards
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: per}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(raw string) *cacheShard {
	return &c.shards[maphash.String(c.seed, raw)%cacheShards]
}

// get returns the cached token for raw, if it was verified with keys and
// has not expired at now.
func (c *tokenCache) get(raw string, keys *keySnapshot, now time.Time) *verifiedToken {
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

// put caches a verified token, evicting an arbitrary entry of its shard
// when the shard is full (Go's map iteration order is randomized, which
// makes this random eviction: cheap, and no worse than LRU for tokens
// that are each replayed until they expire).
func (c *tokenCache) put(tok *verifiedToken, keys *keySnapshot) {
	s := c.shard(tok.raw)
	s.mu.Lock()
	if _, ok := s.m[tok.raw]; !ok && len(s.m) >= c.perShard {
		for k := range s.m {
			delete(s.m, k)
			c.evictions.Add(1)
			break
		}
	}
	s.m[tok.raw] = cacheEntry{tok: tok, keys: keys}
	s.mu.Unlock()
}

// len is the number of cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
