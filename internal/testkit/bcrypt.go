package testkit

import (
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var bcryptCache sync.Map // password -> *bcryptEntry

type bcryptEntry struct {
	once sync.Once
	hash string
	err  error
}

// BcryptHash returns a bcrypt hash of password at bcrypt.MinCost, computed
// once per password in the test process. Use it wherever the cost does
// not matter to the test; a test about the cost makes its own hash.
func BcryptHash(t testing.TB, password string) string {
	t.Helper()
	v, _ := bcryptCache.LoadOrStore(password, new(bcryptEntry))
	e := v.(*bcryptEntry)
	e.once.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		e.hash, e.err = string(h), err
	})
	if e.err != nil {
		t.Fatalf("testkit: bcrypt hash: %v", e.err)
	}
	return e.hash
}
