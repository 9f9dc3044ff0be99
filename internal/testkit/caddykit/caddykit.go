// Package caddykit starts in-process Caddy test servers from a Caddyfile on
// testkit.Ports. It is apart from testkit because it links Caddy and its
// standard modules, which unit tests of the internal packages do not need.
package caddykit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// Tester returns a caddytest.Tester whose admin port is p.Admin. The
// configs it loads must put the admin endpoint there too (p.Globals does).
//
// Deprecated: only the e2e module's browser test still uses it; tests of
// this module start Caddy with Start.
func Tester(t testing.TB, p testkit.Ports) *caddytest.Tester {
	return caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: p.Admin})
}

// Server is a running in-process Caddy test server.
type Server struct {
	Ports testkit.Ports
	// Base is the URL of the plain HTTP listener: http://localhost:<HTTP>.
	Base string
	// Addr is that listener's address for raw connections: 127.0.0.1:<HTTP>.
	Addr string
	// Admin is the URL of the admin endpoint: http://localhost:<Admin>.
	Admin string
	// Client has a cookie jar of its own and dials 127.0.0.1 whatever the
	// host of the URL, as caddytest's client did.
	Client *http.Client
	// Storage is the storage folder the test asked for; "" is the test
	// process's, {$CADDY_JWT_TEST_STORAGE}.
	Storage string
}

type options struct {
	storage string
}

// Option changes what Start sets up.
type Option func(t testing.TB, o *options)

// OwnStorage gives the server a storage folder of the test's own instead
// of the test process's shared one: for tests that leave state in storage
// other tests must not see (a revoked identity, say).
func OwnStorage() Option {
	return func(t testing.TB, o *options) { o.storage = t.TempDir() }
}

// Storage puts the server's storage in dir.
func Storage(dir string) Option {
	return func(_ testing.TB, o *options) { o.storage = dir }
}

// Start loads caddyfile into the process's Caddy and stops Caddy at the
// test's cleanup. The Caddyfile gets, in its global options block (one is
// added if it has none), every option of Caddyfile below that it does not
// set itself, so its sites leave their ports out (http://localhost {) and
// listen on the test's HTTP port; a listener on any other port fails the
// test. The ports are testkit.SharedPorts: tests of one process share them.
//
// In-process Caddy is process-wide (one running config): tests that start
// it must not run in parallel.
func Start(t testing.TB, caddyfileText string, opts ...Option) *Server {
	t.Helper()
	o := options{}
	for _, opt := range opts {
		opt(t, &o)
	}
	p := testkit.SharedPorts(t)
	text, err := Caddyfile(caddyfileText, p, o.storage)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Adapt(t, text, p)
	if err != nil {
		t.Fatal(err)
	}
	// Caddy listens with SO_REUSEPORT: while a config replaces another
	// on the same port, the kernel hands new connections to either
	// socket, and those queued on the old one are reset when it closes.
	// So the previous config, if any, goes first, and its sockets with it.
	if err := stop(p); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading the Caddyfile: %v", err)
	}
	srv := &Server{
		Ports:   p,
		Base:    p.HTTPBase(),
		Addr:    fmt.Sprintf("127.0.0.1:%d", p.HTTP),
		Admin:   p.AdminBase(),
		Client:  newClient(t),
		Storage: o.storage,
	}
	t.Cleanup(func() {
		srv.Client.CloseIdleConnections()
		if err := stop(p); err != nil {
			t.Log(err)
		}
	})
	return srv
}

// stop stops the running config and the admin endpoint, which outlives
// caddy.Stop (a config without one stops it, in the background), and
// waits until nothing listens on p any more.
func stop(p testkit.Ports) error {
	_ = caddy.Stop()
	if err := caddy.Load([]byte(`{"admin":{"disabled":true}}`), true); err != nil {
		return fmt.Errorf("caddykit: stopping the admin endpoint: %v", err)
	}
	_ = caddy.Stop()
	for _, port := range []int{p.Admin, p.HTTP, p.HTTPS} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				break
			}
			_ = c.Close()
			if time.Now().After(deadline) {
				return fmt.Errorf("caddykit: %s still accepts connections 10s after Caddy stopped", addr)
			}
		}
	}
	return nil
}

// Load loads another Caddyfile into the running Caddy, with the options
// and checks of Start on the same ports and storage, and returns Caddy's
// error. On an error the running config stays in place. (Through the
// admin endpoint a refused load can reset the very connection that posted
// it: the endpoint is replaced during the load.)
func (s *Server) Load(t testing.TB, caddyfileText string) error {
	t.Helper()
	text, err := Caddyfile(caddyfileText, s.Ports, s.Storage)
	if err != nil {
		return err
	}
	cfg, err := Adapt(t, text, s.Ports)
	if err != nil {
		return err
	}
	return caddy.Load(cfg, true)
}

// Caddyfile returns caddyfileText with the options a test server needs in
// its global options block, each one only if the block does not set it
// already: the admin endpoint, http_port and https_port on p, the storage
// in storage ("" is the test process's folder, {$CADDY_JWT_TEST_STORAGE}),
// persist_config off (nothing is written to the user's config folder) and
// skip_install_trust. Start uses it; so does a test that runs Caddy as a
// process of its own, so that both take their Caddyfile alike.
func Caddyfile(caddyfileText string, p testkit.Ports, storage string) (string, error) {
	if storage == "" {
		storage = "{$" + testkit.StorageEnv + "}"
	} else {
		storage = fmt.Sprintf("%q", storage)
	}
	wanted := []struct{ name, line string }{
		{"admin", fmt.Sprintf("admin localhost:%d", p.Admin)},
		{"http_port", fmt.Sprintf("http_port %d", p.HTTP)},
		{"https_port", fmt.Sprintf("https_port %d", p.HTTPS)},
		{"storage", "storage file_system " + storage},
		{"persist_config", "persist_config off"},
		{"skip_install_trust", "skip_install_trust"},
	}
	blocks, err := caddyfile.Parse("Caddyfile", []byte(caddyfileText))
	if err != nil {
		return "", fmt.Errorf("caddykit: parsing the Caddyfile: %v", err)
	}
	set := map[string]bool{}
	hasGlobal := len(blocks) > 0 && len(blocks[0].Keys) == 0
	if hasGlobal {
		for _, seg := range blocks[0].Segments {
			set[seg.Directive()] = true
		}
	}
	var add strings.Builder
	for _, w := range wanted {
		if !set[w.name] {
			add.WriteString("\t" + w.line + "\n")
		}
	}
	if !hasGlobal {
		return "{\n" + add.String() + "}\n\n" + caddyfileText, nil
	}
	open := globalBlockOpen(caddyfileText)
	if open < 0 {
		return "", fmt.Errorf("caddykit: the Caddyfile's global options block does not open with a brace this helper finds")
	}
	return caddyfileText[:open+1] + "\n" + add.String() + caddyfileText[open+1:], nil
}

// globalBlockOpen is the index of the brace that opens the global options
// block: the first character that is neither white space nor in a comment.
func globalBlockOpen(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		case '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case '{':
			return i
		default:
			return -1
		}
	}
	return -1
}

// Adapt adapts a Caddyfile to JSON, as `caddy adapt` does, and checks that
// every HTTP server listens on p.HTTP or p.HTTPS and the admin endpoint, if
// on, on p.Admin; it logs the adapter's warnings (but the one about
// formatting). A site address with a port of its own would bind a fixed
// port that another test process may hold.
func Adapt(t testing.TB, text string, p testkit.Ports) ([]byte, error) {
	t.Helper()
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, fmt.Errorf("adapting the Caddyfile: %v\n%s", err, text)
	}
	for _, w := range warnings {
		// a Caddyfile pieced together by a test is rarely as caddy fmt
		// writes it; that is no concern of the test's
		if !strings.Contains(w.Message, "not formatted") {
			t.Logf("Caddyfile warning: %s:%d: %s", w.File, w.Line, w.Message)
		}
	}
	var parsed struct {
		Admin *struct {
			Disabled bool   `json:"disabled"`
			Listen   string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			HTTP *struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &parsed); err != nil {
		return nil, err
	}
	if a := parsed.Admin; a != nil && !a.Disabled {
		if err := onPorts("the admin endpoint", a.Listen, p.Admin); err != nil {
			return nil, err
		}
	}
	if h := parsed.Apps.HTTP; h != nil {
		for name, srv := range h.Servers {
			for _, l := range srv.Listen {
				if err := onPorts("server "+name, l, p.HTTP, p.HTTPS); err != nil {
					return nil, err
				}
			}
		}
	}
	return bytes.TrimSpace(cfg), nil
}

func onPorts(what, listen string, ports ...int) error {
	addr, err := caddy.ParseNetworkAddress(listen)
	if err != nil {
		return fmt.Errorf("caddykit: %s listens on %q: %v", what, listen, err)
	}
	for _, port := range ports {
		if addr.StartPort == uint(port) && addr.EndPort == uint(port) {
			return nil
		}
	}
	return fmt.Errorf("caddykit: %s listens on %q, not on the test's free ports %v: leave the port out of site addresses (http://localhost {)", what, listen, ports)
}

// newClient is an HTTP client with a cookie jar that dials 127.0.0.1
// whatever the host of the URL.
func newClient(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 5 * time.Second}
	return &http.Client{
		Jar:     jar,
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			},
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
}
