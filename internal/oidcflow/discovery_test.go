package oidcflow

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDiscoveryFailureWithoutLastGood(t *testing.T) {
	e := newEnv(t, nil)
	e.op.set(func(op *testOP) { op.discStatus = 503 })
	_, _, err := e.flow.Begin(context.Background(), testCallback, "/", nil)
	wantError(t, err, http.StatusBadGateway, MsgUnavailable)
	// no new discovery before retryAfterFailure: the failure is answered again
	_, _, err = e.flow.Begin(context.Background(), testCallback, "/", nil)
	wantError(t, err, http.StatusBadGateway, MsgUnavailable)
	e.op.read(func(op *testOP) {
		if op.discHits != 1 {
			t.Fatalf("discovery tried %d times within %v of a failure", op.discHits, retryAfterFailure)
		}
	})
	e.op.set(func(op *testOP) { op.discStatus = 0 })
	e.clock.Advance(retryAfterFailure)
	if _, _, err := e.flow.Begin(context.Background(), testCallback, "/", nil); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
}

func TestDiscoveryLastGood(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.login(t); err != nil {
		t.Fatal(err)
	}
	// a reload: a new Flow for the same issuer reuses the provider and
	// its keys, without discovery or a key fetch
	reloaded := e.newFlow(t, e.once, nil)
	q, sealed := e.begin(t, reloaded, nil)
	if _, err := finish(t, reloaded, q, sealed); err != nil {
		t.Fatal(err)
	}
	e.op.read(func(op *testOP) {
		if op.discHits != 1 || op.jwksHits != 1 {
			t.Fatalf("discovery %d, keys %d fetches; want 1 and 1", op.discHits, op.jwksHits)
		}
	})
	// an hour on, the provider's discovery and keys are down: the last
	// good provider and keys serve while a rediscovery is tried
	e.op.set(func(op *testOP) { op.discStatus, op.jwksStatus = 500, 500 })
	e.clock.Advance(rediscoverAfter)
	q, sealed = e.begin(t, reloaded, nil)
	waitDiscovery(e.op.issuer())
	if _, err := finish(t, reloaded, q, sealed); err != nil {
		t.Fatalf("with discovery down and a last good provider: %v", err)
	}
	e.op.read(func(op *testOP) {
		if op.discHits != 2 {
			t.Fatalf("discovery tried %d times, want 2 (a rediscovery after %v)", op.discHits, rediscoverAfter)
		}
	})
	// the rediscovery failed: none before retryAfterFailure
	e.begin(t, reloaded, nil)
	waitDiscovery(e.op.issuer())
	e.op.read(func(op *testOP) {
		if op.discHits != 2 {
			t.Fatalf("discovery tried %d times, want 2", op.discHits)
		}
	})
	// discovery back up (the keys still down): the next rediscovery
	// replaces the provider, and keeps the cached keys of its jwks_uri
	e.op.set(func(op *testOP) {
		op.discStatus = 0
		op.discovery["authorization_endpoint"] = op.issuer() + "/authorize?v=2"
	})
	e.clock.Advance(retryAfterFailure)
	e.begin(t, reloaded, nil)
	waitDiscovery(e.op.issuer())
	authURL, sealed, err := reloaded.Begin(context.Background(), testCallback, "/", nil)
	if err != nil || !strings.Contains(authURL, "v=2") {
		t.Fatalf("after a rediscovery: %s, %v", authURL, err)
	}
	e.op.set(func(op *testOP) { op.discovery["authorization_endpoint"] = op.issuer() + "/authorize" })
	authURL = strings.Replace(authURL, "?v=2&", "?", 1)
	if _, err := finish(t, reloaded, e.op.authorize(t, authURL), sealed); err != nil {
		t.Fatalf("after a rediscovery, with the keys down: %v", err)
	}
}

func TestDiscoveryRefusals(t *testing.T) {
	for name, edit := range map[string]func(op *testOP){
		"issuer mismatch":        func(op *testOP) { op.discovery["issuer"] = op.issuer() + "/" },
		"only HMAC algorithms":   func(op *testOP) { op.discovery["id_token_signing_alg_values_supported"] = []string{"HS256"} },
		"only none":              func(op *testOP) { op.discovery["id_token_signing_alg_values_supported"] = []string{"none"} },
		"no algorithms":          func(op *testOP) { delete(op.discovery, "id_token_signing_alg_values_supported") },
		"no token endpoint":      func(op *testOP) { delete(op.discovery, "token_endpoint") },
		"no jwks_uri":            func(op *testOP) { delete(op.discovery, "jwks_uri") },
		"not JSON":               func(op *testOP) { op.discovery = nil },
		"unreachable":            func(op *testOP) {},
		"authorization endpoint": func(op *testOP) { delete(op.discovery, "authorization_endpoint") },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			if name == "unreachable" {
				e = newEnv(t, func(c *Config) { c.Issuer = closedURL(t) })
			}
			e.op.set(edit)
			_, _, err := e.flow.Begin(context.Background(), testCallback, "/", nil)
			fe := wantError(t, err, http.StatusBadGateway, MsgUnavailable)
			t.Logf("cause: %v", fe.Cause)
		})
	}
}

// Concurrent first uses share one discovery.
func TestDiscoveryShared(t *testing.T) {
	e := newEnv(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, _, err := e.flow.Begin(context.Background(), testCallback, "/", nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.op.read(func(op *testOP) {
		if op.discHits != 1 {
			t.Fatalf("%d discoveries for 8 concurrent first uses", op.discHits)
		}
	})
}

// A caller that stops waiting gets a 502 at once; the discovery goes on
// for the others.
func TestDiscoveryWaitCancelled(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := e.flow.Begin(ctx, testCallback, "/", nil)
	wantError(t, err, http.StatusBadGateway, MsgUnavailable)
	waitDiscovery(e.op.issuer())
	if _, _, err := e.flow.Begin(context.Background(), testCallback, "/", nil); err != nil {
		t.Fatal(err)
	}
}

func TestProviderCacheBounded(t *testing.T) {
	resetProviders()
	t.Cleanup(resetProviders)
	now := time.Unix(1e9, 0)
	providers.Lock()
	for i := range maxProviders + 10 {
		evictProvider()
		providers.m[fmt.Sprint("https://id", i, ".example.com")] = &providerEntry{used: now.Add(time.Duration(i) * time.Second)}
	}
	n := len(providers.m)
	_, oldestKept := providers.m["https://id0.example.com"]
	_, newestKept := providers.m[fmt.Sprint("https://id", maxProviders+9, ".example.com")]
	providers.Unlock()
	if n != maxProviders || oldestKept || !newestKept {
		t.Fatalf("cache holds %d (want %d); least recently used kept %v, newest kept %v", n, maxProviders, oldestKept, newestKept)
	}
}
