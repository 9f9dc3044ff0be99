package testkit

import (
	"fmt"
	"os"
	"testing"
)

// StorageEnv names the environment variable that holds the test storage
// folder; Globals refers to it as {$CADDY_JWT_TEST_STORAGE}.
const StorageEnv = "CADDY_JWT_TEST_STORAGE"

// RunWithStorage runs the tests with StorageEnv set to a fresh temporary
// folder, removed afterwards, so that in-process Caddy servers configured
// with Globals never write generated keys or revocations to, or read them
// from, the user's Caddy data directory. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.RunWithStorage(m)) }
func RunWithStorage(m *testing.M) int {
	dir, err := os.MkdirTemp("", "caddy-jwt-test-storage-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testkit: test storage:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv(StorageEnv, dir); err != nil {
		fmt.Fprintln(os.Stderr, "testkit: test storage:", err)
		return 1
	}
	return m.Run()
}
