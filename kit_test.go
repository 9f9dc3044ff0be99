package jwtextended

// The one way tests provision the jwt app: provisionTestApp, which does
// what Caddy does at load (caddy.ProvisionContext with file_system storage
// in a folder of the test, then ctx.App("jwt"), so Provision and Validate
// run and Cleanup runs at the end of the test). Handlers provisioned in the
// returned context bind to that app, as in a real config. Tests that need a
// running server use loadApp (testutil_test.go) or caddytest instead.
// Tokens come from internal/testkit's minter, never from the module.

import (
	"sync"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage" // file_system storage
)

// provisionTestApp provisions the jwt app of appJSON with file_system
// storage in storageDir (a new temporary folder when empty). The app's
// clock can be replaced afterwards (app.now): every part of the app reads
// it when it needs the time. Tests use it through newFixture
// (fixture_test.go).
func provisionTestApp(t testing.TB, appJSON []byte, storageDir string) (caddy.Context, *App, error) {
	t.Helper()
	if storageDir == "" {
		storageDir = t.TempDir()
	}
	return provisionTestAppIn(t, appJSON, testkit.MustJSON(t, map[string]any{"module": "file_system", "root": storageDir}))
}

// provisionMu serializes caddy.ProvisionContext (see provisionTestAppIn).
var provisionMu sync.Mutex

// provisionTestAppIn is provisionTestApp with the storage config given as
// JSON (storageRaw), such as the fault storage of fixture_test.go.
func provisionTestAppIn(t testing.TB, appJSON, storageRaw []byte) (caddy.Context, *App, error) {
	t.Helper()
	cfg := &caddy.Config{
		AppsRaw:    caddy.ModuleMap{"jwt": appJSON},
		StorageRaw: storageRaw,
	}
	// ProvisionContext sets process-wide defaults (certmagic.Default's
	// storage, Caddy's default logger): parallel tests provision one at a
	// time.
	provisionMu.Lock()
	ctx, err := caddy.ProvisionContext(cfg)
	var v any
	if err == nil {
		v, err = ctx.App("jwt")
	}
	provisionMu.Unlock()
	if err != nil {
		return ctx, nil, err
	}
	app := v.(*App)
	t.Cleanup(func() { _ = app.Cleanup() })
	return ctx, app, nil
}

// parseToken runs a token through the app's verifier without the cache
// and the clock: what a token's signature and claims alone decide.
func (a *App) parseToken(raw string) (*token.Verified, *authError) {
	tok, e := a.verifier.Parse(raw, a.ring.Current())
	if e != nil {
		return nil, coreRefusal(e)
	}
	return tok, nil
}
