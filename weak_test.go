package jwtextended

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Weak settings keep the JSON of plain values as it was (a duration in
// nanoseconds, a number, a boolean) and carry placeholder text as a
// string until it is resolved.
func TestWeakSettingsJSON(t *testing.T) {
	t.Parallel()
	type settings struct {
		D WeakDuration `json:"d,omitempty"`
		N WeakInt      `json:"n,omitempty"`
		B WeakBool     `json:"b,omitempty"`
	}
	for _, tc := range []struct{ in, out string }{
		{`{"d":"15m","n":0,"b":false}`, `{"d":900000000000,"n":0,"b":false}`},
		{`{"d":1000000000,"n":7,"b":true}`, `{"d":1000000000,"n":7,"b":true}`},
		{`{"d":"{env.D}","n":"{env.N}","b":"{env.B}"}`, `{"d":"{env.D}","n":"{env.N}","b":"{env.B}"}`},
		{`{}`, `{}`},
	} {
		var s settings
		if err := json.Unmarshal([]byte(tc.in), &s); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		out, err := json.Marshal(s)
		if err != nil || string(out) != tc.out {
			t.Fatalf("%s: marshalled %s (%v), want %s", tc.in, out, err, tc.out)
		}
	}
	for _, in := range []string{`{"d":"soon"}`, `{"n":"7"}`, `{"b":"yes"}`, `{"n":1.5}`} {
		var s settings
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Fatalf("%s accepted", in)
		}
	}
}

// Placeholders resolve at Provision; a result that is not a value of the
// setting's kind is refused, naming the module, the setting and the text,
// never the value's source.
func TestWeakSettingsResolve(t *testing.T) {
	t.Setenv("JWT_WEAK_D", "2m")
	t.Setenv("JWT_WEAK_BAD", "soon")
	t.Setenv("JWT_WEAK_NEG", "-3")
	t.Setenv("JWT_WEAK_ON", "on")
	if d, err := WeakDuration("{env.JWT_WEAK_D}").resolve("jwt", "leeway"); err != nil || d != 2*time.Minute {
		t.Fatalf("duration: %v %v", d, err)
	}
	if d, err := WeakDuration("").resolve("jwt", "leeway"); err != nil || d != 0 {
		t.Fatalf("unset duration: %v %v", d, err)
	}
	if _, err := WeakDuration("{env.JWT_WEAK_BAD}").resolve("jwt", "leeway"); err == nil ||
		err.Error() != `jwt: leeway: {env.JWT_WEAK_BAD} resolved to "soon", which is not a duration such as 30s or 15m` {
		t.Fatalf("bad duration: %v", err)
	}
	if _, _, err := WeakInt("{env.JWT_WEAK_NEG}").resolve("jwt", "cache_size"); err == nil || !strings.Contains(err.Error(), "not a whole number") {
		t.Fatalf("negative number: %v", err)
	}
	if n, set, err := WeakInt("").resolve("jwt", "cache_size"); err != nil || set || n != 0 {
		t.Fatalf("unset number: %v %v %v", n, set, err)
	}
	if b, err := WeakBool("{env.JWT_WEAK_ON}").resolve("jwt: csrf", "protect", false); err != nil || !b {
		t.Fatalf("switch: %v %v", b, err)
	}
	if b, err := WeakBool("").resolve("jwt: csrf", "protect", true); err != nil || !b {
		t.Fatalf("unset switch takes its default: %v %v", b, err)
	}
	if _, err := WeakBool("{env.JWT_WEAK_D}").resolve("jwt: csrf", "protect", true); err == nil ||
		!strings.Contains(err.Error(), "which is not on or off") {
		t.Fatalf("bad switch: %v", err)
	}
}
