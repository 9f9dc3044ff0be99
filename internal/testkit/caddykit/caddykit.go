// Package caddykit starts in-process Caddy test servers through caddytest
// on testkit.Ports. It is apart from testkit because caddytest links
// Caddy's standard modules, which unit tests of the internal packages do
// not need.
package caddykit

import (
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// Tester returns a caddytest.Tester whose admin port is p.Admin. The
// configs it loads must put the admin endpoint there too (p.Globals does).
func Tester(t testing.TB, p testkit.Ports) *caddytest.Tester {
	return caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: p.Admin})
}
