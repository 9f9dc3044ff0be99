//go:build slow

package token

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
)

// TestCacheBoundMillionTokens: a million distinct verified tokens leave the
// cache at its size bound, and the heap with it.
func TestCacheBoundMillionTokens(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	c := NewCache(DefaultCacheSize)
	snap := new(keys.Snapshot)
	exp := float64(time.Now().Add(time.Hour).Unix())
	claims := map[string]any{"sub": "user-0", "type": "access", "fresh": false, "jti": "j-0", "role": "member"}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		raw := "eyJhbGciOiJIUzI1NiJ9." + strconv.Itoa(i) + ".c2lnbmF0dXJlLW9mLXRoaXMtdG9rZW4tMzItYnl0ZXMtbG9uZw"
		c.Put(&Verified{Raw: raw, PayloadB64: raw[21:], expAt: exp, Claims: claims}, snap)
		if i%100_000 == 0 && c.Len() > DefaultCacheSize {
			t.Fatalf("after %d tokens the cache holds %d, bound %d", i+1, c.Len(), DefaultCacheSize)
		}
	}
	if got := c.Len(); got > DefaultCacheSize || got < DefaultCacheSize*9/10 {
		t.Fatalf("cache holds %d after %d distinct tokens, want at most %d (and near it)", got, n, DefaultCacheSize)
	}
	if ev := c.Evictions(); ev != uint64(n-c.Len()) {
		t.Fatalf("evictions %d, want %d", ev, n-c.Len())
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Each entry here is about 300 bytes (a raw token of ~90 bytes, the
	// Verified, the map slot); 64 MiB is far above the bound's need
	// and far below what a million entries would take.
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 64<<20 {
		t.Fatalf("heap grew by %d MiB for a cache of %d entries", grown>>20, c.Len())
	}
	t.Logf("%d distinct tokens: %d cached, %d evicted, heap +%d KiB", n, c.Len(), c.Evictions(), grown>>10)
	runtime.KeepAlive(c)
}
