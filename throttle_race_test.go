package jwtextended

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/crypto/bcrypt"
)

// TestThrottleConcurrentBurst (issue 12, finding 1) through jwt_issue's
// ServeHTTP: 149 wrong logins for alice from one IP arrive together, and
// the right password follows as soon as the first 429 shows the budget is
// spent, while the burst is still in flight. At most MaxPerUser (5) are
// checked (401), the rest are refused (429), and so is the right
// password. The counts of bcrypt comparisons themselves are tested in
// internal/users (TestThrottleConcurrentLoginsPerUser).
func TestThrottleConcurrentBurst(t *testing.T) {
	for _, route := range []string{"/login", "/reauth"} {
		t.Run(route, func(t *testing.T) {
			// a comparison that outlasts the scheduler's 10ms time slice, so
			// the burst overlaps as it does over a network; the fixed code's
			// answer does not depend on it
			e := issuerTestSetup(t, nil, func(h *Issue) { h.Users[0].Hash = burstHash(t) })
			const n = 149
			start := make(chan struct{})
			first429 := make(chan struct{})
			var once sync.Once
			codes := make(chan int, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					w := e.serve(issuerTestJSON(route, issuerTestCreds("alice", "wrong")))
					if w.Code == 429 {
						once.Do(func() { close(first429) })
					}
					codes <- w.Code
				}()
			}
			close(start)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-first429:
			case <-done:
			}
			right := e.serve(issuerTestJSON(route, issuerTestCreds("alice", issuerTestPassword)))
			<-done
			close(codes)
			count := map[int]int{}
			for c := range codes {
				count[c]++
			}
			if count[401] > users.DefaultMaxPerUser || count[429] != n-count[401] {
				t.Errorf("%d concurrent wrong logins: %v; want at most %d x 401 and the rest 429", n, count, users.DefaultMaxPerUser)
			}
			issuerTestWantMsg(t, right, 429, "Too many failed login attempts")
		})
	}
}

var burstHashes sync.Map

// burstHash is a bcrypt hash of the test password at cost 10, made once.
func burstHash(t *testing.T) string {
	if h, ok := burstHashes.Load(10); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(issuerTestPassword), 10)
	if err != nil {
		t.Fatal(err)
	}
	burstHashes.Store(10, string(h))
	return string(h)
}

// serve is do for goroutines other than the test's: a handler error is
// reported with Errorf, not Fatalf.
func (e *issuerTestEnv) serve(r *http.Request) *httptest.ResponseRecorder {
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: issuerTestIP})
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(issuerTestNextStatus)
		return nil
	})
	if err := e.h.ServeHTTP(w, r.WithContext(ctx), next); err != nil {
		e.t.Errorf("ServeHTTP returned %v", err)
	}
	return w
}
