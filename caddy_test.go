package jwtextended

// The one way the root package's tests run a real server: startCaddy loads
// a Caddyfile into the process's Caddy (caddykit.Start) on the test
// process's free ports and storage, and newUpstream is the recording
// backend its reverse_proxy lines point at.
//
// A Caddyfile for startCaddy leaves out what the test harness owns: the
// admin endpoint, http_port, https_port, storage and the ports of its site
// addresses (http://localhost {, with no port). startCaddy
// adds them; a site on any other port fails the test.
//
// In-process Caddy is process-wide (one running config): tests that start
// it never call t.Parallel.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit/caddykit"
	"github.com/caddyserver/caddy/v2"
)

// testCaddy is a running in-process Caddy: Base (http://localhost:<port>),
// Addr (127.0.0.1:<port>, for raw connections), Admin (the admin
// endpoint's URL), Client (with a cookie jar of its own), Ports.
type testCaddy struct{ *caddykit.Server }

// startCaddy loads caddyfile and stops Caddy at the test's cleanup. Pass
// ownStorage() for a storage folder of the test's own (for state such as a
// revoked identity that other tests must not see).
func startCaddy(t testing.TB, caddyfile string, opts ...caddykit.Option) testCaddy {
	t.Helper()
	return testCaddy{caddykit.Start(t, caddyfile, opts...)}
}

// ownStorage gives startCaddy's server a storage folder of the test's own.
func ownStorage() caddykit.Option { return caddykit.OwnStorage() }

// storageIn puts startCaddy's storage in dir.
func storageIn(dir string) caddykit.Option { return caddykit.Storage(dir) }

// app is the running config's jwt app, as Caddy provisioned it.
func (c testCaddy) app(t testing.TB) *App {
	t.Helper()
	v, err := caddy.ActiveContext().App("jwt")
	if err != nil {
		t.Fatal(err)
	}
	return v.(*App)
}

// upstream is a backend that records every request it receives and
// answers 200 "upstream ok".
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []upstreamRequest
}

// upstreamRequest is what the upstream received.
type upstreamRequest struct {
	header, trailer http.Header
	body            []byte
}

func newUpstream(t testing.TB) *upstream {
	u := new(upstream)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // the trailers arrive after the body
		u.mu.Lock()
		u.reqs = append(u.reqs, upstreamRequest{header: r.Header.Clone(), trailer: r.Trailer.Clone(), body: body})
		u.mu.Unlock()
		_, _ = io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(u.Close)
	return u
}

// addr is the host:port for a reverse_proxy line.
func (u *upstream) addr() string { return u.Listener.Addr().String() }

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// last is the header of the last request, nil before the first.
func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return nil
	}
	return u.reqs[len(u.reqs)-1].header
}

// lastRequest is the last request; it fails the test if there was none.
func (u *upstream) lastRequest(t testing.TB) upstreamRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// caddyGlobals is a global options block with the option lines of extra
// (tab-indented, newline-terminated): startCaddy adds the ports and the
// storage to it.
func caddyGlobals(extra string) string { return "{\n" + extra + "}\n" }
