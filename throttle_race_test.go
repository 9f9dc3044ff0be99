package jwtextended

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
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
	t.Parallel()
	for _, route := range []string{"/login", "/reauth"} {
		t.Run(route, func(t *testing.T) {
			// a comparison that outlasts the scheduler's 10ms time slice, so
			// the burst overlaps as it does over a network; the fixed code's
			// answer does not depend on it
			e := newFixture(t, withIssuer(func(h *Issue) { h.Users[0].Hash = burstHash(t) }))
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
					w := serveAsync(t, e, jsonPost(route, creds("alice", "wrong")))
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
			right := serveAsync(t, e, jsonPost(route, creds("alice", fixturePassword)))
			<-done
			close(codes)
			count := map[int]int{}
			for c := range codes {
				count[c]++
			}
			if count[401] > users.DefaultMaxPerUser || count[429] != n-count[401] {
				t.Errorf("%d concurrent wrong logins: %v; want at most %d x 401 and the rest 429", n, count, users.DefaultMaxPerUser)
			}
			wantMsg(t, right, 429, "Too many failed login attempts")
		})
	}
}

var burstHashes sync.Map

// burstHash is a bcrypt hash of the test password at cost 10, made once.
func burstHash(t *testing.T) string {
	if h, ok := burstHashes.Load(10); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(fixturePassword), 10)
	if err != nil {
		t.Fatal(err)
	}
	burstHashes.Store(10, string(h))
	return string(h)
}

// serveAsync is e.do for goroutines other than the test's: a handler
// error is reported with Errorf, not Fatalf.
func serveAsync(t *testing.T, e *fixture, r *http.Request) *httptest.ResponseRecorder {
	s := e.serveFrom(fixtureIP, e.h, r)
	if s.err != nil {
		t.Errorf("ServeHTTP returned %v", s.err)
	}
	return s.rec
}
