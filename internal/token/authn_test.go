package token

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// TestMintAuthentication: a token minted with an Authentication carries
// auth_time, amr (an array) and acr; one minted without carries none of
// them (a refresh of a token that had none, caddy jwt mint).
func TestMintAuthentication(t *testing.T) {
	v := testVerifier(t, string(testSecret), "")
	m := &Minter{Keys: v.Keys, IdentityClaim: "sub", AccessTTL: time.Minute, RefreshTTL: time.Hour, Now: v.Now}
	at := testNow.Add(-90 * time.Second)
	minted, err := m.Mint(Request{Type: TypeAccess, Identity: "alice", Fresh: true,
		Auth: Authentication{Time: at, Methods: []string{"pwd", "otp"}, Class: "urn:example:mfa"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, e := v.Verify(minted.Raw)
	if e != nil {
		t.Fatal(e)
	}
	payload, _ := strictjson.Decode([]byte(tok.PayloadJSON))
	if got := payload["auth_time"]; got == nil || got.(interface{ String() string }).String() != strconv.FormatInt(at.Unix(), 10) {
		t.Errorf("auth_time = %v, want %d", got, at.Unix())
	}
	if !tok.HasAuthTime || tok.AuthTime != at.Unix() || tok.AuthTimeText != strconv.FormatInt(at.Unix(), 10) {
		t.Errorf("verified auth_time = %v %d %q", tok.HasAuthTime, tok.AuthTime, tok.AuthTimeText)
	}
	got := tok.Authentication()
	if !got.Time.Equal(at) || !slices.Equal(got.Methods, []string{"pwd", "otp"}) || got.Class != "urn:example:mfa" {
		t.Errorf("Authentication() = %+v", got)
	}
	if _, isArray := payload["amr"].([]any); !isArray {
		t.Errorf("amr = %#v, want a JSON array", payload["amr"])
	}

	plain, err := m.Mint(Request{Type: TypeAccess, Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	tok, e = v.Verify(plain.Raw)
	if e != nil {
		t.Fatal(e)
	}
	for _, name := range []string{"auth_time", "amr", "acr"} {
		if _, ok := tok.Claims[name]; ok {
			t.Errorf("a token minted without authentication carries %s", name)
		}
	}
	if tok.HasAuthTime || tok.AuthTimeText != "" {
		t.Error("HasAuthTime on a token without auth_time")
	}
	if a := tok.Authentication(); !a.Time.IsZero() || a.Methods != nil || a.Class != "" {
		t.Errorf("Authentication() of a token without = %+v", a)
	}
}

// TestReadAuthTime: only a NumericDate in range is an auth_time; anything
// else reads as absent (and so fails every max_age), never as a time.
func TestReadAuthTime(t *testing.T) {
	v := testVerifier(t, string(testSecret), "")
	for _, c := range []struct {
		member string
		want   int64
		ok     bool
	}{
		{`,"auth_time":1799999000`, 1799999000, true},
		{`,"auth_time":1799999000.9`, 1799999000, true},
		{`,"auth_time":"1799999000"`, 0, false},
		{`,"auth_time":true`, 0, false},
		{`,"auth_time":1e300`, 0, false},
		{``, 0, false},
	} {
		raw := verifytestsSign(testkit.B64URL([]byte(verifytestsHeader)), testkit.B64URL([]byte(verifytestsPayload(c.member))))
		tok, e := v.Verify(raw)
		if e != nil {
			t.Fatalf("%s: %v", c.member, e)
		}
		if tok.HasAuthTime != c.ok || tok.AuthTime != c.want {
			t.Errorf("%s: HasAuthTime %v AuthTime %d, want %v %d", c.member, tok.HasAuthTime, tok.AuthTime, c.ok, c.want)
		}
	}
}

// TestAuthenticationClaimsReserved: configured claims and an app's
// X-Jwt-Issue-Claims cannot set auth_time, amr or acr, in any case.
func TestAuthenticationClaimsReserved(t *testing.T) {
	for _, name := range []string{"auth_time", "amr", "acr", "AMR", "Auth_Time"} {
		if !CollidesWithReserved(name) {
			t.Errorf("%s is not reserved", name)
		}
	}
}
