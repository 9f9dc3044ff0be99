//go:build slow

package jwtextended

// The memory bound of the verified-token cache under a million distinct
// tokens (perf_bench_test.go has the benchmarks). It churns a million
// cache entries through the heap, so it runs only with the slow build tag:
//
//	go test -tags slow -run TestCacheBoundMillionTokens .
//
// CI runs it.

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestCacheBoundMillionTokens: a million distinct verified tokens leave the
// cache at its size bound, and the heap with it. With -short, 100,000.
func TestCacheBoundMillionTokens(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	c := newTokenCache(defaultCacheSize)
	keys := new(keySnapshot)
	exp := float64(time.Now().Add(time.Hour).Unix())
	claims := benchClaims(0)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		raw := "eyJhbGciOiJIUzI1NiJ9." + strconv.Itoa(i) + ".c2lnbmF0dXJlLW9mLXRoaXMtdG9rZW4tMzItYnl0ZXMtbG9uZw"
		c.put(&verifiedToken{raw: raw, payloadB64: raw[21:], expAt: exp, claims: claims}, keys)
		if i%100_000 == 0 && c.len() > defaultCacheSize {
			t.Fatalf("after %d tokens the cache holds %d, bound %d", i+1, c.len(), defaultCacheSize)
		}
	}
	if got := c.len(); got > defaultCacheSize || got < defaultCacheSize*9/10 {
		t.Fatalf("cache holds %d after %d distinct tokens, want at most %d (and near it)", got, n, defaultCacheSize)
	}
	if ev := c.evictions.Load(); ev != uint64(n-c.len()) {
		t.Fatalf("evictions %d, want %d", ev, n-c.len())
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Each entry here is about 300 bytes (a raw token of ~90 bytes, the
	// verifiedToken, the map slot); 64 MiB is far above the bound's need
	// and far below what a million entries would take.
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 64<<20 {
		t.Fatalf("heap grew by %d MiB for a cache of %d entries", grown>>20, c.len())
	}
	t.Logf("%d distinct tokens: %d cached, %d evicted, heap +%d KiB", n, c.len(), c.evictions.Load(), grown>>10)
	runtime.KeepAlive(c)
}
