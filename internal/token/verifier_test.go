package token

// Strict parsing through the Verifier: tokens are signed here with
// crypto/hmac over the segments as transmitted (or by testkit's minter),
// never by the module.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// testSecret is the HS256 key of the verifiers built by testVerifier.
var testSecret = []byte("authtests-hs256-secret-0123456789abcdef")

// testNow is the fixed clock of every verifier built here.
var testNow = time.Unix(1_800_000_000, 0)

// testVerifier is a Verifier of one HMAC secret (algorithm alg, HS256 when
// empty) at testNow, with the contract's default identity claim.
func testVerifier(t testing.TB, secret, alg string) *Verifier {
	t.Helper()
	ring, err := keys.Load(keys.Config{Secret: secret, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return &Verifier{Keys: ring, IdentityClaim: "sub", Now: func() time.Time { return testNow }}
}

// testClaims are a valid access token's claims at testNow.
func testClaims() map[string]any {
	now := testNow.Unix()
	return map[string]any{"sub": "alice", "type": "access", "fresh": false, "jti": "jti-alice-1", "iat": now - 60, "nbf": now - 60, "exp": now + 600}
}

// verifytestsHS256 signs a signing input exactly as transmitted (whatever
// its encoding) with HMAC-SHA256 and testSecret, so that only the
// property under test can make the token fail.
func verifytestsHS256(signingInput string) string {
	m := hmac.New(sha256.New, testSecret)
	m.Write([]byte(signingInput))
	return testkit.B64URL(m.Sum(nil))
}

// verifytestsSign joins raw segments and appends a valid HS256 signature
// over them.
func verifytestsSign(header, payload string) string {
	in := header + "." + payload
	return in + "." + verifytestsHS256(in)
}

// verifytestsPayload is a valid payload at testNow with extra raw JSON
// members appended (", ..." form, or "" for none).
func verifytestsPayload(extra string) string {
	now := testNow.Unix()
	return `{"sub":"alice","type":"access","jti":"j1","iat":` + strconv.FormatInt(now-10, 10) +
		`,"exp":` + strconv.FormatInt(now+600, 10) + extra + `}`
}

const verifytestsHeader = `{"alg":"HS256","typ":"JWT"}`

// verifytestsNonCanonical sets the unused low bits of the last character of
// an unpadded base64url segment, which lenient decoders ignore. It returns
// false when the segment has no unused bits (length a multiple of 4).
func verifytestsNonCanonical(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		return seg, false
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(alphabet[last|1])
	return out, out != seg
}

// TestVerifyStrictParsing covers issue 2 point 5: the algorithm is pinned by
// configuration, exp is required, base64url is strict, crit is refused,
// duplicate or case-variant member names are refused, time claims must be
// numbers, and the token's shape is checked before anything else.
func TestVerifyStrictParsing(t *testing.T) {
	app := testVerifier(t, string(testSecret), "")
	now := testNow.Unix()
	valid := verifytestsSign(testkit.B64URL([]byte(verifytestsHeader)), testkit.B64URL([]byte(verifytestsPayload(""))))
	if _, e := app.Verify(valid); e != nil {
		t.Fatalf("baseline token refused: %v", e)
	}
	vparts := strings.Split(valid, ".")

	// a payload whose standard base64 holds both '+' and '/'
	plusSlash := func() string {
		for i := 0; i < 8; i++ {
			p := verifytestsPayload(`,"pad":"` + strings.Repeat("x", i) + `>>>???"`)
			std := base64.StdEncoding.EncodeToString([]byte(p))
			if strings.ContainsAny(std, "+") && strings.ContainsAny(std, "/") {
				return strings.TrimRight(std, "=")
			}
		}
		t.Fatal("no payload with + and / found")
		return ""
	}()
	// a payload whose unpadded encoding has unused trailing bits
	trailing := func() string {
		for i := 0; i < 3; i++ {
			seg := testkit.B64URL([]byte(verifytestsPayload(`,"pad":"` + strings.Repeat("y", i) + `"`)))
			if nc, ok := verifytestsNonCanonical(seg); ok {
				if lenient, err := base64.RawURLEncoding.DecodeString(nc); err != nil || string(lenient) != string(mustDecode(t, seg)) {
					t.Fatalf("test setup: %q is not a lenient spelling of %q", nc, seg)
				}
				return nc
			}
		}
		t.Fatal("no payload with trailing bits found")
		return ""
	}()
	// a payload whose padded encoding ends in '='
	padded := func() string {
		for i := 0; i < 3; i++ {
			seg := base64.URLEncoding.EncodeToString([]byte(verifytestsPayload(`,"pad":"` + strings.Repeat("z", i) + `"`)))
			if strings.HasSuffix(seg, "=") {
				return seg
			}
		}
		t.Fatal("no padded payload found")
		return ""
	}()
	sigTrailing, ok := verifytestsNonCanonical(vparts[2])
	if !ok {
		t.Fatal("HS256 signature segment has no unused bits")
	}

	hs384 := testkit.SignToken(t, "HS384", testSecret, nil, testClaims())
	hs512 := testkit.SignToken(t, "HS512", testSecret, nil, testClaims())
	// the classic key confusion: alg RS256, "signed" with the HMAC secret
	rsConfused := verifytestsSign(testkit.B64URL([]byte(`{"alg":"RS256","typ":"JWT"}`)), vparts[1])

	tests := []struct {
		name string
		tok  string
		want *Error // nil: any refusal
	}{
		{"HS384 token against an HS256 key", hs384, jws.ErrAlgNotAllowed},
		{"HS512 token against an HS256 key", hs512, jws.ErrAlgNotAllowed},
		{"RS256 header signed with the HMAC key", rsConfused, jws.ErrAlgNotAllowed},
		{"alg hs256 lowercase", verifytestsSign(testkit.B64URL([]byte(`{"alg":"hs256"}`)), vparts[1]), jws.ErrAlgNotAllowed},
		{"alg with a space", verifytestsSign(testkit.B64URL([]byte(`{"alg":"HS256 "}`)), vparts[1]), jws.ErrAlgNotAllowed},
		{"alg missing", verifytestsSign(testkit.B64URL([]byte(`{"typ":"JWT"}`)), vparts[1]), jws.ErrAlgNotAllowed},
		{"alg not a string", verifytestsSign(testkit.B64URL([]byte(`{"alg":256}`)), vparts[1]), jws.ErrBadHeader},
		{"alg none, empty signature", testkit.B64URL([]byte(`{"alg":"none"}`)) + "." + vparts[1] + ".", jws.ErrMalformed},
		{"alg none, HMAC signature", verifytestsSign(testkit.B64URL([]byte(`{"alg":"none"}`)), vparts[1]), jws.ErrAlgNotAllowed},
		{"alg None", verifytestsSign(testkit.B64URL([]byte(`{"alg":"None"}`)), vparts[1]), jws.ErrAlgNotAllowed},
		{"alg NONE", verifytestsSign(testkit.B64URL([]byte(`{"alg":"NONE"}`)), vparts[1]), jws.ErrAlgNotAllowed},
		{"alg nOnE", verifytestsSign(testkit.B64URL([]byte(`{"alg":"nOnE"}`)), vparts[1]), jws.ErrAlgNotAllowed},
		{"header with invalid UTF-8", verifytestsSign(testkit.B64URL([]byte("{\"alg\":\"HS256\",\"kid\":\"k\xff\"}")), vparts[1]), jws.ErrBadHeader},
		{"alg none, signature 'x'", testkit.B64URL([]byte(`{"alg":"none"}`)) + "." + vparts[1] + ".eA", jws.ErrAlgNotAllowed},

		{"exp missing", verifytestsSign(vparts[0], testkit.B64URL([]byte(`{"sub":"alice","type":"access"}`))), ErrMissingExp},
		{"exp a string", verifytestsSign(vparts[0], testkit.B64URL([]byte(`{"sub":"alice","exp":"`+strconv.FormatInt(now+600, 10)+`"}`))), ErrBadExp},
		{"exp null", verifytestsSign(vparts[0], testkit.B64URL([]byte(`{"sub":"alice","exp":null}`))), ErrBadExp},
		{"exp true", verifytestsSign(vparts[0], testkit.B64URL([]byte(`{"sub":"alice","exp":true}`))), ErrBadExp},
		{"exp infinite", verifytestsSign(vparts[0], testkit.B64URL([]byte(`{"sub":"alice","exp":1e400}`))), ErrBadExp},
		{"nbf a string", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"nbf":"1"`)))), ErrBadNbf},
		{"iat a string", verifytestsSign(vparts[0], testkit.B64URL([]byte(strings.Replace(verifytestsPayload(""), `"iat":`+strconv.FormatInt(now-10, 10), `"iat":"`+strconv.FormatInt(now-10, 10)+`"`, 1)))), ErrBadIat},
		{"iat an array", verifytestsSign(vparts[0], testkit.B64URL([]byte(strings.Replace(verifytestsPayload(""), `"iat":`+strconv.FormatInt(now-10, 10), `"iat":[1]`, 1)))), ErrBadIat},

		{"padding on the header", verifytestsSign(base64.URLEncoding.EncodeToString([]byte(verifytestsHeader+" ")), vparts[1]), jws.ErrBadEncoding},
		{"padding on the payload", verifytestsSign(vparts[0], padded), jws.ErrBadEncoding},
		{"padding on the signature", valid + "=", jws.ErrBadEncoding},
		{"standard alphabet + and / in the payload", verifytestsSign(vparts[0], plusSlash), jws.ErrBadEncoding},
		{"non-canonical trailing bits in the payload", verifytestsSign(vparts[0], trailing), jws.ErrBadEncoding},
		{"non-canonical trailing bits in the signature", vparts[0] + "." + vparts[1] + "." + sigTrailing, jws.ErrBadEncoding},
		{"whitespace in a segment", verifytestsSign(vparts[0], vparts[1][:4]+" "+vparts[1][4:]), jws.ErrBadEncoding},

		{"crit header", verifytestsSign(testkit.B64URL([]byte(`{"alg":"HS256","crit":["exp"],"exp":1}`)), vparts[1]), jws.ErrCrit},
		{"crit empty list", verifytestsSign(testkit.B64URL([]byte(`{"alg":"HS256","crit":[]}`)), vparts[1]), jws.ErrCrit},
		{"crit null", verifytestsSign(testkit.B64URL([]byte(`{"alg":"HS256","crit":null}`)), vparts[1]), jws.ErrCrit},

		{"duplicate claim", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"sub":"admin"`)))), ErrDuplicateClaim},
		{"type and Type", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"Type":"refresh"`)))), ErrDuplicateClaim},
		{"exp and EXP", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"EXP":1`)))), ErrDuplicateClaim},
		{"duplicate name in a nested object", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"org":{"id":"a","id":"b"}`)))), ErrDuplicateClaim},
		{"case-variant names in a nested object", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"org":{"role":"a","Role":"b"}`)))), ErrDuplicateClaim},
		{"duplicate name in an object in an array", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"l":[{"a":1,"a":2}]`)))), ErrDuplicateClaim},
		{"duplicate header member", verifytestsSign(testkit.B64URL([]byte(`{"alg":"HS256","alg":"none"}`)), vparts[1]), jws.ErrBadHeader},
		{"case-variant header member", verifytestsSign(testkit.B64URL([]byte(`{"alg":"HS256","Alg":"none"}`)), vparts[1]), jws.ErrBadHeader},
		{"header not an object", verifytestsSign(testkit.B64URL([]byte(`["HS256"]`)), vparts[1]), jws.ErrBadHeader},
		{"header with trailing data", verifytestsSign(testkit.B64URL([]byte(verifytestsHeader+`{}`)), vparts[1]), jws.ErrBadHeader},
		{"payload with trailing data", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload("")+`{}`))), ErrBadPayload},
		{"payload an array", verifytestsSign(vparts[0], testkit.B64URL([]byte(`[{"sub":"alice","exp":`+strconv.FormatInt(now+600, 10)+`}]`))), ErrBadPayload},
		{"payload not JSON", verifytestsSign(vparts[0], testkit.B64URL([]byte(`sub=alice`))), ErrBadPayload},
		{"payload null", verifytestsSign(vparts[0], testkit.B64URL([]byte(`null`))), ErrBadPayload},
		{"payload nested too deep", verifytestsSign(vparts[0], testkit.B64URL([]byte(verifytestsPayload(`,"d":`+strings.Repeat("[", 40)+strings.Repeat("]", 40))))), nil},

		{"2 segments", vparts[0] + "." + vparts[1], jws.ErrMalformed},
		{"4 segments", valid + "." + vparts[2], jws.ErrMalformed},
		{"5 segments", valid + ".a.b", jws.ErrMalformed},
		{"1 segment", vparts[1], jws.ErrMalformed},
		{"empty signature", vparts[0] + "." + vparts[1] + ".", jws.ErrMalformed},
		{"empty payload", vparts[0] + ".." + vparts[2], jws.ErrMalformed},
		{"empty header", "." + vparts[1] + "." + vparts[2], jws.ErrMalformed},
		{"empty", "", jws.ErrMalformed},

		{"type a number", verifytestsSign(vparts[0], testkit.B64URL([]byte(strings.Replace(verifytestsPayload(""), `"type":"access"`, `"type":1`, 1)))), ErrBadType},
		{"type null", verifytestsSign(vparts[0], testkit.B64URL([]byte(strings.Replace(verifytestsPayload(""), `"type":"access"`, `"type":null`, 1)))), ErrBadType},
		{"type id", verifytestsSign(vparts[0], testkit.B64URL([]byte(strings.Replace(verifytestsPayload(""), `"type":"access"`, `"type":"id"`, 1)))), ErrBadType},
		{"jti a number", verifytestsSign(vparts[0], testkit.B64URL([]byte(strings.Replace(verifytestsPayload(""), `"jti":"j1"`, `"jti":1`, 1)))), ErrBadJTI},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, e := app.Verify(tc.tok)
			if e == nil {
				t.Fatalf("accepted: %+v", tok)
			}
			if tc.want != nil && e != tc.want {
				t.Errorf("refused with %q (%s), want %q (%s)", e.Msg, e.Code, tc.want.Msg, tc.want.Code)
			}
		})
	}
}

func mustDecode(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyAlgorithmPinnedToConfig: an app configured for HS384 or HS512
// refuses HS256 tokens made with the same secret, and accepts its own.
func TestVerifyAlgorithmPinnedToConfig(t *testing.T) {
	secret64 := strings.Repeat("k", 64)
	for _, alg := range []string{"HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			app := testVerifier(t, secret64, alg)
			claims := testClaims()
			if _, e := app.Verify(testkit.SignToken(t, alg, []byte(secret64), nil, claims)); e != nil {
				t.Fatalf("own algorithm refused: %v", e)
			}
			for _, other := range []string{"HS256", "HS384", "HS512"} {
				if other == alg {
					continue
				}
				if _, e := app.Verify(testkit.SignToken(t, other, []byte(secret64), nil, claims)); e != jws.ErrAlgNotAllowed {
					t.Errorf("%s token: got %v, want %q", other, e, jws.ErrAlgNotAllowed.Msg)
				}
			}
		})
	}
}

// Issue 12, finding 5: a NumericDate beyond the year 9999 (or before the
// year 1) is refused in one place, for exp, nbf and iat alike; beyond
// int64 seconds it reached the upstream as a negative X-Jwt-Exp.
func TestVerifyNumericDateRange(t *testing.T) {
	v := testVerifier(t, string(testSecret), "")
	for _, tc := range []struct {
		name  string
		claim string
		value any
	}{
		{"exp past int64", "exp", 9.3e18},
		{"exp 1e300", "exp", 1e300},
		{"exp year 10000", "exp", maxNumericDate + 1},
		{"nbf before the year 1", "nbf", minNumericDate - 1},
		{"iat 1e19", "iat", -1e19},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := testClaims()
			claims[tc.claim] = tc.value
			if _, e := v.Verify(testkit.SignToken(t, "HS256", testSecret, nil, claims)); e != ErrDateRange {
				t.Fatalf("got %v, want %v", e, ErrDateRange)
			}
		})
	}
	claims := testClaims()
	claims["exp"] = maxNumericDate
	tok, e := v.Verify(testkit.SignToken(t, "HS256", testSecret, nil, claims))
	if e != nil || tok.Exp != maxNumericDate || tok.ExpText != "253402300799" {
		t.Fatalf("the last second of 9999: %v %+v", e, tok)
	}
}
