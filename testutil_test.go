package jwtextended

// Tokens in tests are minted by internal/testkit, independently of the code
// under test: raw JSON, base64url and the standard library's crypto, so a
// bug in the module's own minting or parsing cannot hide a bug in its
// verification.

import (
	"math/big"
	"os"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
)

// The minter lives in internal/testkit, shared with the internal packages'
// tests; these names keep the root tests' call sites as they were.
var (
	b64url         = testkit.B64URL
	mustJSON       = testkit.MustJSON
	signRaw        = testkit.SignRaw
	applyOverrides = testkit.ApplyOverrides
	signToken      = testkit.SignToken
)

// bigInt is a shorthand for tests that build ECDSA special values.
func bigInt(v int64) *big.Int { return big.NewInt(v) }

// TestMain gives the in-process Caddy servers of the integration tests a
// storage folder of their own ({$CADDY_JWT_TEST_STORAGE}, which startCaddy
// puts in their global options), so generated keys and revocations never
// land in, or come from, the user's Caddy data directory.
func TestMain(m *testing.M) { os.Exit(testkit.RunWithStorage(m)) }

// loadApp starts Caddy in-process with the given `jwt` app config (JSON)
// and no server: for the unit tests and benchmarks that need a provisioned
// app only (bench_test.go, metrics_test.go, perf_bench_test.go, secLoad).
// Tests that need a real server use startCaddy. loadApp gives it Caddy's
// file_system storage in a temporary folder, and returns the
// provisioned app. Tests that use it must not run in parallel: Caddy's
// running config is process-wide. The config is unloaded at cleanup.
func loadApp(tb testing.TB, jwtJSON string) *App {
	tb.Helper()
	cfg := `{"admin":{"disabled":true},"logging":{"logs":{"default":{"level":"ERROR"}}},` +
		`"storage":{"module":"file_system","root":` + string(mustJSON(tb, tb.TempDir())) + `},` +
		`"apps":{"jwt":` + jwtJSON + `}}`
	if err := caddy.Load([]byte(cfg), true); err != nil {
		tb.Fatalf("loading config: %v", err)
	}
	tb.Cleanup(func() { _ = caddy.Stop() })
	v, err := caddy.ActiveContext().App("jwt")
	if err != nil {
		tb.Fatal(err)
	}
	return v.(*App)
}
