package keys

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
)

// Wycheproof conformance: the vectors in testdata run through the module's
// own JWK loading (this package) and its signature layer (jws.Verify, which
// the token Verifier runs before the claims). See testdata/README.md.

// keysConformanceSkips are the vectors known to be wrong, with the reason
// (../shared/vectors/README.md; testdata/README.md).
var keysConformanceSkips = map[int]string{
	367: "byte-identical to the valid tcId 357: its padding was lost upstream",
	370: "byte-identical to the valid tcId 357: its padding was lost upstream",
	372: "marked valid but contains '?' in a segment, which strict base64url refuses",
	373: "marked valid but contains '?' in a segment, which strict base64url refuses",
}

// keysConformanceAlgOverride are the vectors whose key's JWK alg differs
// from the algorithm the test names (PS256 for a PS384 token, "ES521" for
// ES512); they run with the named algorithm.
var keysConformanceAlgOverride = map[int]string{346: "PS384", 350: "PS384", 347: "ES512", 351: "ES512"}

type keysWycheproofFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string          `json:"comment"`
		Public  json.RawMessage `json:"public"`
		Private json.RawMessage `json:"private"`
		Tests   []struct {
			TcID    int             `json:"tcId"`
			Comment string          `json:"comment"`
			JWS     json.RawMessage `json:"jws"`
			Result  string          `json:"result"`
			Flags   []string        `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func keysLoadWycheproof(t *testing.T, name string) keysWycheproofFile {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var f keysWycheproofFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// keysTestRing is a keyring of the given keys, all local.
func keysTestRing(keys ...*jws.Key) *Ring {
	k := &Ring{local: keys}
	k.rebuild()
	return k
}

// keysConformanceVerify runs a vector's token through jws.Verify with the
// keys. A JWT always has a payload (RFC 7519 section 7.2), so the JWS
// vectors with an empty payload, valid as bare JWS, must be refused as
// malformed: that is checked here rather than skipped.
func keysConformanceVerify(token string, ring *Ring) (emptyPayload bool, err error) {
	_, _, _, e := jws.Verify(token, ring.Current())
	if parts := strings.Split(token, "."); len(parts) == 3 && parts[1] == "" {
		if e != jws.ErrMalformed {
			return true, fmt.Errorf("empty payload: got %v, want %v", e, jws.ErrMalformed)
		}
		return true, nil
	}
	if e != nil {
		return false, e
	}
	return false, nil
}

// keysCompact returns the token of a vector: a compact string, or a JSON
// serialization re-encoded as the string a client would send.
func keysCompact(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func keysTokenAlg(token string) string {
	seg, _, _ := strings.Cut(token, ".")
	hdr, err := jws.Encoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal(hdr, &h)
	return h.Alg
}

func keysWithAlg(t *testing.T, jwk json.RawMessage, alg string) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		t.Fatal(err)
	}
	m["alg"] = alg
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWycheproofJWS(t *testing.T) {
	f := keysLoadWycheproof(t, "json_web_signature_test.json")
	ran, skipped, accepted, emptyRefused := 0, 0, 0, 0
	for _, g := range f.TestGroups {
		jwk := g.Public
		if jwk == nil {
			jwk = g.Private // HMAC groups have only the secret
		}
		for _, tc := range g.Tests {
			t.Run(fmt.Sprintf("tcId%d_%s", tc.TcID, tc.Comment), func(t *testing.T) {
				if why, skip := keysConformanceSkips[tc.TcID]; skip {
					skipped++
					t.Skipf("tcId %d skipped: %s", tc.TcID, why)
				}
				ran++
				token := keysCompact(tc.JWS)
				keyJSON := jwk
				if alg, ok := keysConformanceAlgOverride[tc.TcID]; ok {
					keyJSON = keysWithAlg(t, jwk, alg)
				}
				vk, loadErr := FromJWK(keyJSON, true)
				var verr error
				empty := false
				if loadErr == nil {
					empty, verr = keysConformanceVerify(token, keysTestRing(vk))
				}
				if empty && verr == nil {
					// refused as a JWT without payload, as it must be
					emptyRefused++
					return
				}
				gotValid := loadErr == nil && verr == nil
				if gotValid {
					accepted++
				}
				if want := tc.Result == "valid"; gotValid != want {
					t.Errorf("tcId %d (%s, group %s, flags %v, alg %s): got valid=%v, want %s; key load: %v; verify: %v",
						tc.TcID, tc.Comment, g.Comment, tc.Flags, keysTokenAlg(token), gotValid, tc.Result, loadErr, verr)
				}
			})
		}
	}
	if ran+skipped != f.NumberOfTests {
		t.Errorf("ran %d and skipped %d of %d vectors", ran, skipped, f.NumberOfTests)
	}
	t.Logf("%d vectors run (%d accepted, %d with an empty payload refused as JWTs), %d skipped as documented", ran, accepted, emptyRefused, skipped)
}

func TestWycheproofJWK(t *testing.T) {
	f := keysLoadWycheproof(t, "json_web_key_test.json")
	ran := 0
	for _, g := range f.TestGroups {
		set := g.Public
		if set == nil {
			set = g.Private
		}
		for _, tc := range g.Tests {
			t.Run(fmt.Sprintf("tcId%d_%s_%s", tc.TcID, g.Comment, tc.Comment), func(t *testing.T) {
				ran++
				keys, skippedKeys, loadErr := parseJWKSet(set, true)
				empty := false
				if loadErr == nil && len(skippedKeys) > 0 {
					// a configured set with an unusable key is refused
					loadErr = skippedKeys[0]
				}
				var verr error
				if loadErr == nil {
					empty, verr = keysConformanceVerify(keysCompact(tc.JWS), keysTestRing(keys...))
				}
				if empty && verr == nil {
					return // refused as a JWT without payload, as it must be
				}
				gotValid := loadErr == nil && verr == nil
				if want := tc.Result == "valid"; gotValid != want {
					t.Errorf("tcId %d (%s/%s, flags %v): got valid=%v, want %s; key set: %v; verify: %v",
						tc.TcID, g.Comment, tc.Comment, tc.Flags, gotValid, tc.Result, loadErr, verr)
				}
			})
		}
	}
	if ran != f.NumberOfTests {
		t.Errorf("ran %d of %d vectors", ran, f.NumberOfTests)
	}
}
