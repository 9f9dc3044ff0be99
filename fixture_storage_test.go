package jwtextended

// The fault-injecting storage of the fixture (faultyStorage): a Caddy
// storage module, caddy.storage.jwt_test_faults, whose config names a
// testkit.Storage the test registered, so the app's revocation store
// writes through a storage the test can make fail.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

func init() { caddy.RegisterModule(faultStorageModule{}) }

// faultStorages are the testkit.Storage values tests registered, by name.
var (
	faultStorages sync.Map // name -> *testkit.Storage
	faultSeq      atomic.Int64
)

// registerFaults makes s reachable by the jwt_test_faults storage module
// under a name of its own, until the end of the test.
func registerFaults(t testing.TB, s *testkit.Storage) string {
	name := fmt.Sprintf("faults-%d", faultSeq.Add(1))
	faultStorages.Store(name, s)
	t.Cleanup(func() { faultStorages.Delete(name) })
	return name
}

// faultStorageModule is caddy.storage.jwt_test_faults: the Caddy storage
// whose config names a testkit.Storage a test registered (withFaults).
type faultStorageModule struct {
	Name string `json:"name"`
}

func (faultStorageModule) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.storage.jwt_test_faults", New: func() caddy.Module { return new(faultStorageModule) }}
}

func (m *faultStorageModule) CertMagicStorage() (certmagic.Storage, error) {
	s, ok := faultStorages.Load(m.Name)
	if !ok {
		return nil, errors.New("jwt_test_faults: no storage " + m.Name)
	}
	return s.(*testkit.Storage), nil
}

var _ caddy.StorageConverter = (*faultStorageModule)(nil)
