package users

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// testHash is a bcrypt hash of "password" at the minimum cost, to keep
// the tests fast.
func testHash(t testing.TB) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestDummyHashHasUsersCost(t *testing.T) {
	h6, err := bcrypt.GenerateFromPassword([]byte("x"), 6)
	if err != nil {
		t.Fatal(err)
	}
	h5, err := bcrypt.GenerateFromPassword([]byte("x"), 5)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(Config{Users: []User{{Name: "a", Hash: string(h6)}, {Name: "b", Hash: string(h6)}, {Name: "c", Hash: string(h5)}}, Now: time.Now, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost(c.current().dummy); err != nil || cost != 6 {
		t.Errorf("dummy cost %d (%v), want the users' most common cost 6", cost, err)
	}
}
