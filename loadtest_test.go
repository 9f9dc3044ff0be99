//go:build loadtest

package jwtextended

// The load test: a real Caddy on loopback, driven by 32 workers with a mix
// of valid, expired, forged, revoked and non-fresh tokens, plus a stream of
// distinct valid tokens that overflows the verified-token cache. Every
// request knows its expected status and, for a 200, the user the upstream
// must see. Run it with
//
//	go test -tags loadtest -run TestLoad -count=1 .
//
// It stops at loadRequests requests or loadDuration, whichever comes
// first, and asserts zero 5xx, no valid token refused, no invalid token
// accepted, and memory that levels off.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	loadWorkers   = 32
	loadRequests  = 20000
	loadDuration  = 30 * time.Second
	loadPhases    = 4
	loadCacheSize = 500
	// The heap may grow by half from the first phase to the last, plus
	// loadMemSlack: generous for noise (it stays flat on this machine),
	// yet an unbounded cache of the distinct 4 KiB tokens grows it by
	// about 33 MiB over the phases (seen with cache_size 1000000).
	loadMemSlack = 8 << 20
)

// loadMint signs an HS256 token with stdlib crypto, safe to call from any
// goroutine.
func loadMint(secret string, claims map[string]any) string {
	h := b64url([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	si := h + "." + b64url(p)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(si))
	return si + "." + b64url(m.Sum(nil))
}

// loadCase is one kind of request in the mix.
type loadCase struct {
	kind   string
	path   string
	token  func(i int64) string
	status int
	// user is the identity the upstream must echo for a 200.
	user func(i int64) string
}

func TestLoad(t *testing.T) {
	caddyfile := `{
	auto_https off
	jwt {
		secret ` + secSecret + `
		cache_size ` + strconv.Itoa(loadCacheSize) + `
	}
}
http://127.0.0.1 {
	bind 127.0.0.1
	log {
		output discard
	}
	handle /fresh/* {
		jwt_auth fresh_required
		respond "user={http.auth.user.id}" 200
	}
	handle {
		jwt_auth
		respond "user={http.auth.user.id}" 200
	}
}
`
	srv := startCaddy(t, caddyfile, ownStorage())
	addr := srv.Addr
	app := srv.app(t)

	now := time.Now().Unix()
	claims := func(sub, jti string, over map[string]any) map[string]any {
		c := map[string]any{"sub": sub, "type": "access", "fresh": true, "jti": jti, "iat": now, "nbf": now, "exp": now + 600}
		for k, v := range over {
			c[k] = v
		}
		return c
	}
	// pools of reused tokens (these hit the cache)
	const pool = 64
	valid, expired, forged, revoked, stale := make([]string, pool), make([]string, pool), make([]string, pool), make([]string, pool), make([]string, pool)
	for i := range valid {
		n := strconv.Itoa(i)
		valid[i] = loadMint(secSecret, claims("user"+n, "valid-"+n, nil))
		expired[i] = loadMint(secSecret, claims("user"+n, "expired-"+n, map[string]any{"exp": now - 60 - int64(i)}))
		forged[i] = loadMint(secOtherSecret, claims("admin"+n, "forged-"+n, nil))
		revoked[i] = loadMint(secSecret, claims("user"+n, "revoked-"+n, nil))
		stale[i] = loadMint(secSecret, claims("user"+n, "stale-"+n, map[string]any{"fresh": false}))
		if err := app.revoked.revoke(context.Background(), "revoked-"+n, time.Unix(now+600, 0)); err != nil {
			t.Fatal(err)
		}
	}
	pick := func(s []string) func(int64) string { return func(i int64) string { return s[i%pool] } }
	user := func(i int64) string { return "user" + strconv.FormatInt(i%pool, 10) }
	mix := []loadCase{
		{kind: "valid", path: "/api", token: pick(valid), status: 200, user: user},
		{kind: "valid_fresh", path: "/fresh/x", token: pick(valid), status: 200, user: user},
		{kind: "expired", path: "/api", token: pick(expired), status: 401},
		{kind: "forged", path: "/api", token: pick(forged), status: 401},
		{kind: "revoked", path: "/api", token: pick(revoked), status: 401},
		{kind: "not_fresh", path: "/fresh/x", token: pick(stale), status: 401},
		{kind: "not_fresh_ok_elsewhere", path: "/api", token: pick(stale), status: 200, user: user},
		// a new valid token every time: more distinct tokens than the
		// cache holds
		{kind: "distinct_valid", path: "/api", token: func(i int64) string {
			return loadMint(secSecret, claims("d"+strconv.FormatInt(i, 10), "d-"+strconv.FormatInt(i, 10), map[string]any{"pad": strings.Repeat("x", 4096)}))
		}, status: 200, user: func(i int64) string { return "d" + strconv.FormatInt(i, 10) }},
		{kind: "distinct_forged", path: "/api", token: func(i int64) string {
			return loadMint(secOtherSecret, claims("e"+strconv.FormatInt(i, 10), "e", nil))
		}, status: 401},
	}

	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: loadWorkers, MaxIdleConnsPerHost: loadWorkers},
	}
	defer client.CloseIdleConnections()

	var (
		next     atomic.Int64
		fiveXX   atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		failures []string
		counts   = map[string]int{}
		heap     []uint64
	)
	fail := func(s string) {
		mu.Lock()
		if len(failures) < 20 {
			failures = append(failures, s)
		}
		mu.Unlock()
	}
	deadline := time.Now().Add(loadDuration)
	start := time.Now()
	perPhase := int64(loadRequests / loadPhases)
	for phase := 0; phase < loadPhases && time.Now().Before(deadline); phase++ {
		limit := perPhase * int64(phase+1)
		var wg sync.WaitGroup
		for w := 0; w < loadWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := map[string]int{}
				for time.Now().Before(deadline) {
					i := next.Add(1) - 1
					if i >= limit {
						next.Add(-1)
						break
					}
					c := mix[i%int64(len(mix))]
					req, _ := http.NewRequest(http.MethodGet, "http://"+addr+c.path, nil)
					req.Header.Set("Authorization", "Bearer "+c.token(i))
					// spoofed identity on every request
					req.Header.Set("X-Jwt-Identity", "admin")
					resp, err := client.Do(req)
					if err != nil {
						errs.Add(1)
						fail(fmt.Sprintf("%s #%d: %v", c.kind, i, err))
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					local[c.kind]++
					if resp.StatusCode >= 500 {
						fiveXX.Add(1)
					}
					if resp.StatusCode != c.status {
						fail(fmt.Sprintf("%s #%d: status %d %q, want %d", c.kind, i, resp.StatusCode, body, c.status))
						continue
					}
					if c.status == 200 {
						if want := "user=" + c.user(i); string(body) != want {
							fail(fmt.Sprintf("%s #%d: upstream saw %q, want %q", c.kind, i, body, want))
						}
					}
				}
				mu.Lock()
				for k, v := range local {
					counts[k] += v
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = append(heap, ms.HeapInuse)
		t.Logf("phase %d: %d requests, HeapInuse %.1f MiB, cache %d entries", phase+1, next.Load(), float64(ms.HeapInuse)/(1<<20), app.cache.Len())
	}
	elapsed := time.Since(start)
	total := next.Load()
	t.Logf("%d requests in %s (%.0f/s) with %d workers; by kind: %v", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), loadWorkers, counts)

	for _, f := range failures {
		t.Error(f)
	}
	if n := fiveXX.Load(); n != 0 {
		t.Errorf("%d responses were 5xx", n)
	}
	if n := errs.Load(); n != 0 {
		t.Errorf("%d requests failed at the transport", n)
	}
	if total < int64(len(mix))*100 {
		t.Errorf("only %d requests ran", total)
	}
	if n := app.cache.Len(); app.resolved.cacheSize == loadCacheSize && n > app.cache.Bound() {
		t.Errorf("cache holds %d entries, bound %d", n, loadCacheSize)
	}
	if len(heap) >= 2 {
		first, last := heap[0], heap[len(heap)-1]
		if last > first+first/2+loadMemSlack {
			t.Errorf("HeapInuse grew from %d to %d bytes over the phases: %v", first, last, heap)
		}
	}
}
