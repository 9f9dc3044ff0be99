package testkit

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// FreePort binds 127.0.0.1:0, reads the port the kernel chose, closes the
// listener and returns the port. It was free a moment ago; whoever binds
// it next wins, so use it at once.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct free loopback ports: it holds every
// listener open until all n are chosen, so the kernel cannot hand out the
// same port twice (separate FreePort calls could, before anyone binds).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testkit: finding a free port: %v", err)
		}
		listeners = append(listeners, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// Ports are the listening ports of an in-process Caddy test server.
type Ports struct {
	Admin, HTTP, HTTPS int
}

// NewPorts returns three distinct free loopback ports.
func NewPorts(t testing.TB) Ports {
	t.Helper()
	p := FreePorts(t, 3)
	return Ports{Admin: p[0], HTTP: p[1], HTTPS: p[2]}
}

var shared struct {
	mu    sync.Mutex
	ports Ports
}

// SharedPorts returns the same Ports to every caller in the test process,
// chosen on the first call. In-process Caddy is process-wide (one running
// config, one admin endpoint), so the tests of one binary that start it
// should use one set of ports: each new config then reuses the listeners
// of the previous one instead of moving the admin endpoint.
func SharedPorts(t testing.TB) Ports {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ports == (Ports{}) {
		shared.ports = NewPorts(t)
	}
	return shared.ports
}

// Options returns the global option lines (tab-indented, no braces) that
// put the admin endpoint, http_port and https_port on p and the storage in
// the test storage folder (see StorageEnv). Use it to splice the ports
// into an existing global options block; Globals writes a whole block.
func (p Ports) Options() string {
	return fmt.Sprintf("\tskip_install_trust\n\tadmin localhost:%d\n\thttp_port %d\n\thttps_port %d\n\tstorage file_system {$%s}\n",
		p.Admin, p.HTTP, p.HTTPS, StorageEnv)
}

// IsolatedGlobals is Globals with a storage folder of the test's own
// instead of the test process's shared one: for tests that leave state in
// storage other tests must not see (a revoked identity, say).
func (p Ports) IsolatedGlobals(t testing.TB, extra string) string {
	t.Helper()
	shared := fmt.Sprintf("storage file_system {$%s}", StorageEnv)
	own := fmt.Sprintf("storage file_system %q", t.TempDir())
	return strings.Replace(p.Globals(extra), shared, own, 1)
}

// Globals returns a Caddyfile global options block with Options and then
// extra (further option lines, tab-indented, newline-terminated).
func (p Ports) Globals(extra string) string {
	return "{\n" + p.Options() + extra + "}\n"
}

// HTTPBase is the base URL of the plain HTTP listener, for site addresses
// and requests: http://localhost:<HTTP>.
func (p Ports) HTTPBase() string { return fmt.Sprintf("http://localhost:%d", p.HTTP) }

// AdminBase is the base URL of the admin endpoint: http://localhost:<Admin>.
func (p Ports) AdminBase() string { return fmt.Sprintf("http://localhost:%d", p.Admin) }
