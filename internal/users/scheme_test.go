package users

import (
	"strings"
	"testing"
)

// fakeScheme is a hash format "<name>:<params>:<password>" whose Dummy
// records the parameters it was asked for.
type fakeScheme struct{ name string }

func (f fakeScheme) Name() string { return f.name }
func (f fakeScheme) Params(hash []byte) (string, bool) {
	parts := strings.Split(string(hash), ":")
	if len(parts) != 3 || parts[0] != f.name {
		return "", false
	}
	return f.name + " " + parts[1], true
}
func (f fakeScheme) Compare(hash, pw []byte) (bool, error) {
	return strings.HasSuffix(string(hash), ":"+string(pw)), nil
}
func (f fakeScheme) Dummy(like []byte) ([]byte, error) {
	params := "default"
	if like != nil {
		params = strings.Split(string(like), ":")[1]
	}
	return []byte(f.name + ":" + params + ":" + string(RandomPassword())), nil
}
func (f fakeScheme) MaxPassword() int { return 0 }

// Unknown users are checked against a dummy of the most common format and
// cost among the users, so that they take as long as a known user's wrong
// password; without users, the first format's default.
func TestDummyFollowsTheUsers(t *testing.T) {
	a, b := fakeScheme{"a"}, fakeScheme{"b"}
	for _, tc := range []struct {
		name   string
		users  []User
		scheme string
		dummy  string
	}{
		{"no users", nil, "a", "a:default:"},
		{"one format", []User{{Name: "x", Hash: "b:m=1:pw"}}, "b", "b:m=1:"},
		{"the most common", []User{{Name: "x", Hash: "a:c=5:pw"}, {Name: "y", Hash: "b:m=2:pw"}, {Name: "z", Hash: "b:m=2:pw2"}}, "b", "b:m=2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(Config{Users: tc.users, Schemes: []Scheme{a, b}})
			if err != nil {
				t.Fatal(err)
			}
			db := c.current()
			if db.dummyScheme.Name() != tc.scheme || !strings.HasPrefix(string(db.dummy), tc.dummy) {
				t.Fatalf("dummy %q of %s, want %s... of %s", db.dummy, db.dummyScheme.Name(), tc.dummy, tc.scheme)
			}
			if c.Check("nobody", "pw") != nil {
				t.Fatal("an unknown user logged in")
			}
		})
	}
	if _, err := Load(Config{Users: []User{{Name: "x", Hash: "c:1:pw"}}, Schemes: []Scheme{a, b}}); err == nil || !strings.Contains(err.Error(), "no known form (a or b)") {
		t.Fatalf("a hash of no known form: %v", err)
	}
}
