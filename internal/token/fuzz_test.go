package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzVerifier mutates whole tokens against the core alone (no Caddy): the
// Verifier must never panic, never accept a token that is not signed by
// its key, and what it accepts must decode with encoding/json to exactly
// the claims it read. CI runs it for a bounded time:
//
//	go test -run '^$' -fuzz '^FuzzVerifier$' -fuzztime=15s ./internal/token
func FuzzVerifier(f *testing.F) {
	v := testVerifier(f, string(testSecret), "")
	v.Cache = NewCache(64)
	claims := testClaims()
	f.Add(testSign(f, `{"alg":"HS256","typ":"JWT"}`, claims))
	claims["aud"] = []string{"a"}
	f.Add(testSign(f, `{"alg":"HS256"}`, claims))
	f.Add(testSign(f, `{"alg":"HS256","kid":null}`, testClaims()))
	f.Add(testSign(f, `{"alg":"HS256","crit":[]}`, testClaims()))
	f.Add("e30.e30.e30")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, e := v.Verify(raw)
		if e != nil {
			if e.Code == "" || e.Msg == "" {
				t.Fatalf("refusal without code or message: %+v", e)
			}
			return
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %d segments", len(parts))
		}
		dec := func(seg string) []byte {
			b, err := base64.RawURLEncoding.DecodeString(seg)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != seg {
				t.Fatalf("accepted a non-canonical segment %q", seg)
			}
			return b
		}
		hdr, payload, sig := dec(parts[0]), dec(parts[1]), dec(parts[2])
		m := hmac.New(sha256.New, testSecret)
		m.Write([]byte(parts[0] + "." + parts[1]))
		if !hmac.Equal(sig, m.Sum(nil)) {
			t.Fatalf("accepted a token not signed by the key: %q", raw)
		}
		var h map[string]any
		if json.Unmarshal(hdr, &h) != nil || h["alg"] != "HS256" {
			t.Fatalf("accepted header %q", hdr)
		}
		d := json.NewDecoder(strings.NewReader(string(payload)))
		d.UseNumber()
		var want map[string]any
		if err := d.Decode(&want); err != nil || !reflect.DeepEqual(want, tok.Claims) {
			t.Fatalf("claims %#v, encoding/json reads %#v (%v)", tok.Claims, want, err)
		}
		if tok.Identity == "" || (tok.Type != TypeAccess && tok.Type != TypeRefresh) {
			t.Fatalf("accepted identity %q type %q", tok.Identity, tok.Type)
		}
	})
}

// testSign signs claims under a raw header with testSecret, with crypto/hmac.
func testSign(t testing.TB, header string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, testSecret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
