package jwtextended

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// verifytestsHS256 signs a signing input exactly as transmitted (whatever
// its encoding) with HMAC-SHA256 and authtestsSecret, so that only the
// property under test can make the token fail.
func verifytestsHS256(signingInput string) string {
	m := hmac.New(sha256.New, authtestsSecret)
	m.Write([]byte(signingInput))
	return b64url(m.Sum(nil))
}

// verifytestsSign joins raw segments and appends a valid HS256 signature
// over them.
func verifytestsSign(header, payload string) string {
	in := header + "." + payload
	return in + "." + verifytestsHS256(in)
}

// verifytestsPayload is a valid payload at authtestsNow with extra raw JSON
// members appended (", ..." form, or "" for none).
func verifytestsPayload(extra string) string {
	now := authtestsNow.Unix()
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
	_, app := authtestsApp(t, nil)
	now := authtestsNow.Unix()
	valid := verifytestsSign(b64url([]byte(verifytestsHeader)), b64url([]byte(verifytestsPayload(""))))
	if _, e := app.verify(valid); e != nil {
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
			seg := b64url([]byte(verifytestsPayload(`,"pad":"` + strings.Repeat("y", i) + `"`)))
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

	hs384 := signToken(t, "HS384", authtestsSecret, nil, authtestsClaims(nil))
	hs512 := signToken(t, "HS512", authtestsSecret, nil, authtestsClaims(nil))
	// the classic key confusion: alg RS256, "signed" with the HMAC secret
	rsConfused := verifytestsSign(b64url([]byte(`{"alg":"RS256","typ":"JWT"}`)), vparts[1])

	tests := []struct {
		name string
		tok  string
		want *authError // nil: any refusal
	}{
		{"HS384 token against an HS256 key", hs384, errAlgNotAllowed},
		{"HS512 token against an HS256 key", hs512, errAlgNotAllowed},
		{"RS256 header signed with the HMAC key", rsConfused, errAlgNotAllowed},
		{"alg hs256 lowercase", verifytestsSign(b64url([]byte(`{"alg":"hs256"}`)), vparts[1]), errAlgNotAllowed},
		{"alg with a space", verifytestsSign(b64url([]byte(`{"alg":"HS256 "}`)), vparts[1]), errAlgNotAllowed},
		{"alg missing", verifytestsSign(b64url([]byte(`{"typ":"JWT"}`)), vparts[1]), errAlgNotAllowed},
		{"alg not a string", verifytestsSign(b64url([]byte(`{"alg":256}`)), vparts[1]), errBadHeaderJSON},
		{"alg none, empty signature", b64url([]byte(`{"alg":"none"}`)) + "." + vparts[1] + ".", errMalformed},
		{"alg none, HMAC signature", verifytestsSign(b64url([]byte(`{"alg":"none"}`)), vparts[1]), errAlgNotAllowed},
		{"alg None", verifytestsSign(b64url([]byte(`{"alg":"None"}`)), vparts[1]), errAlgNotAllowed},
		{"alg NONE", verifytestsSign(b64url([]byte(`{"alg":"NONE"}`)), vparts[1]), errAlgNotAllowed},
		{"alg nOnE", verifytestsSign(b64url([]byte(`{"alg":"nOnE"}`)), vparts[1]), errAlgNotAllowed},
		{"header with invalid UTF-8", verifytestsSign(b64url([]byte("{\"alg\":\"HS256\",\"kid\":\"k\xff\"}")), vparts[1]), errBadHeaderJSON},
		{"alg none, signature 'x'", b64url([]byte(`{"alg":"none"}`)) + "." + vparts[1] + ".eA", errAlgNotAllowed},

		{"exp missing", verifytestsSign(vparts[0], b64url([]byte(`{"sub":"alice","type":"access"}`))), errMissingExp},
		{"exp a string", verifytestsSign(vparts[0], b64url([]byte(`{"sub":"alice","exp":"`+strconv.FormatInt(now+600, 10)+`"}`))), errBadExp},
		{"exp null", verifytestsSign(vparts[0], b64url([]byte(`{"sub":"alice","exp":null}`))), errBadExp},
		{"exp true", verifytestsSign(vparts[0], b64url([]byte(`{"sub":"alice","exp":true}`))), errBadExp},
		{"exp infinite", verifytestsSign(vparts[0], b64url([]byte(`{"sub":"alice","exp":1e400}`))), errBadExp},
		{"nbf a string", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"nbf":"1"`)))), errBadNbf},
		{"iat a string", verifytestsSign(vparts[0], b64url([]byte(strings.Replace(verifytestsPayload(""), `"iat":`+strconv.FormatInt(now-10, 10), `"iat":"`+strconv.FormatInt(now-10, 10)+`"`, 1)))), errBadIat},
		{"iat an array", verifytestsSign(vparts[0], b64url([]byte(strings.Replace(verifytestsPayload(""), `"iat":`+strconv.FormatInt(now-10, 10), `"iat":[1]`, 1)))), errBadIat},

		{"padding on the header", verifytestsSign(base64.URLEncoding.EncodeToString([]byte(verifytestsHeader+" ")), vparts[1]), errBadEncoding},
		{"padding on the payload", verifytestsSign(vparts[0], padded), errBadEncoding},
		{"padding on the signature", valid + "=", errBadEncoding},
		{"standard alphabet + and / in the payload", verifytestsSign(vparts[0], plusSlash), errBadEncoding},
		{"non-canonical trailing bits in the payload", verifytestsSign(vparts[0], trailing), errBadEncoding},
		{"non-canonical trailing bits in the signature", vparts[0] + "." + vparts[1] + "." + sigTrailing, errBadEncoding},
		{"whitespace in a segment", verifytestsSign(vparts[0], vparts[1][:4]+" "+vparts[1][4:]), errBadEncoding},

		{"crit header", verifytestsSign(b64url([]byte(`{"alg":"HS256","crit":["exp"],"exp":1}`)), vparts[1]), errCrit},
		{"crit empty list", verifytestsSign(b64url([]byte(`{"alg":"HS256","crit":[]}`)), vparts[1]), errCrit},
		{"crit null", verifytestsSign(b64url([]byte(`{"alg":"HS256","crit":null}`)), vparts[1]), errCrit},

		{"duplicate claim", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"sub":"admin"`)))), errDuplicateClaim},
		{"type and Type", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"Type":"refresh"`)))), errDuplicateClaim},
		{"exp and EXP", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"EXP":1`)))), errDuplicateClaim},
		{"duplicate name in a nested object", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"org":{"id":"a","id":"b"}`)))), errDuplicateClaim},
		{"case-variant names in a nested object", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"org":{"role":"a","Role":"b"}`)))), errDuplicateClaim},
		{"duplicate name in an object in an array", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"l":[{"a":1,"a":2}]`)))), errDuplicateClaim},
		{"duplicate header member", verifytestsSign(b64url([]byte(`{"alg":"HS256","alg":"none"}`)), vparts[1]), errBadHeaderJSON},
		{"case-variant header member", verifytestsSign(b64url([]byte(`{"alg":"HS256","Alg":"none"}`)), vparts[1]), errBadHeaderJSON},
		{"header not an object", verifytestsSign(b64url([]byte(`["HS256"]`)), vparts[1]), errBadHeaderJSON},
		{"header with trailing data", verifytestsSign(b64url([]byte(verifytestsHeader+`{}`)), vparts[1]), errBadHeaderJSON},
		{"payload with trailing data", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload("")+`{}`))), errBadPayloadJSON},
		{"payload an array", verifytestsSign(vparts[0], b64url([]byte(`[{"sub":"alice","exp":`+strconv.FormatInt(now+600, 10)+`}]`))), errBadPayloadJSON},
		{"payload not JSON", verifytestsSign(vparts[0], b64url([]byte(`sub=alice`))), errBadPayloadJSON},
		{"payload null", verifytestsSign(vparts[0], b64url([]byte(`null`))), errBadPayloadJSON},
		{"payload nested too deep", verifytestsSign(vparts[0], b64url([]byte(verifytestsPayload(`,"d":`+strings.Repeat("[", 40)+strings.Repeat("]", 40))))), nil},

		{"2 segments", vparts[0] + "." + vparts[1], errMalformed},
		{"4 segments", valid + "." + vparts[2], errMalformed},
		{"5 segments", valid + ".a.b", errMalformed},
		{"1 segment", vparts[1], errMalformed},
		{"empty signature", vparts[0] + "." + vparts[1] + ".", errMalformed},
		{"empty payload", vparts[0] + ".." + vparts[2], errMalformed},
		{"empty header", "." + vparts[1] + "." + vparts[2], errMalformed},
		{"empty", "", errMalformed},

		{"type a number", verifytestsSign(vparts[0], b64url([]byte(strings.Replace(verifytestsPayload(""), `"type":"access"`, `"type":1`, 1)))), errBadType},
		{"type null", verifytestsSign(vparts[0], b64url([]byte(strings.Replace(verifytestsPayload(""), `"type":"access"`, `"type":null`, 1)))), errBadType},
		{"type id", verifytestsSign(vparts[0], b64url([]byte(strings.Replace(verifytestsPayload(""), `"type":"access"`, `"type":"id"`, 1)))), errBadType},
		{"jti a number", verifytestsSign(vparts[0], b64url([]byte(strings.Replace(verifytestsPayload(""), `"jti":"j1"`, `"jti":1`, 1)))), errBadJTI},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, e := app.verify(tc.tok)
			if e == nil {
				t.Fatalf("accepted: %+v", tok)
			}
			if tc.want != nil && e != tc.want {
				t.Errorf("refused with %q (%s), want %q (%s)", e.msg, e.code, tc.want.msg, tc.want.code)
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
			_, app := authtestsApp(t, func(a *App) { a.Secret = secret64; a.Algorithm = alg })
			claims := authtestsClaims(nil)
			if _, e := app.verify(signToken(t, alg, []byte(secret64), nil, claims)); e != nil {
				t.Fatalf("own algorithm refused: %v", e)
			}
			for _, other := range []string{"HS256", "HS384", "HS512"} {
				if other == alg {
					continue
				}
				if _, e := app.verify(signToken(t, other, []byte(secret64), nil, claims)); e != errAlgNotAllowed {
					t.Errorf("%s token: got %v, want %q", other, e, errAlgNotAllowed.msg)
				}
			}
		})
	}
}

// TestVerifyTokenSizeLimit: tokens over 8 KiB are refused before any
// decoding, from every source; 8 KiB exactly is fine.
func TestVerifyTokenSizeLimit(t *testing.T) {
	_, app := authtestsApp(t, nil)

	// not even base64: only the size check can answer
	huge := strings.Repeat("!", jws.MaxTokenSize+1)
	if _, e := app.verify(huge); e != errTooLarge {
		t.Errorf("8 KiB + 1 of garbage: got %v, want %q", e, errTooLarge.msg)
	}

	// a valid token of exactly jws.MaxTokenSize bytes
	base := authtestsToken(t, map[string]any{"pad": ""})
	var exact string
	for n := (jws.MaxTokenSize-len(base))*3/4 - 8; n < jws.MaxTokenSize; n++ {
		tok := authtestsToken(t, map[string]any{"pad": strings.Repeat("p", n)})
		if len(tok) == jws.MaxTokenSize {
			exact = tok
			break
		}
		if len(tok) > jws.MaxTokenSize {
			break
		}
	}
	if exact == "" {
		t.Fatal("test setup: no padding gives a token of exactly 8 KiB")
	}
	if _, e := app.verify(exact); e != nil {
		t.Errorf("token of exactly %d bytes refused: %v", len(exact), e)
	}
	over := authtestsToken(t, map[string]any{"pad": strings.Repeat("p", jws.MaxTokenSize)})
	if _, e := app.verify(over); e != errTooLarge {
		t.Errorf("valid but oversized token: got %v, want %q", e, errTooLarge.msg)
	}

	for _, from := range []string{"header", "cookie", "query"} {
		t.Run(from, func(t *testing.T) {
			h, _ := authtestsHandler(t, func(a *App) { a.TokenFrom = []string{from} }, nil)
			r := httptest.NewRequest("GET", "/api", nil)
			switch from {
			case "header":
				r.Header.Set("Authorization", "Bearer "+huge)
			case "cookie":
				r.Header.Set("Cookie", accessCookieName+"="+huge)
			case "query":
				r = httptest.NewRequest("GET", "/api?jwt="+huge, nil)
			}
			res := authtestsServe(h, r)
			authtestsAssertRefused(t, res, 401, "Token is too large", authtestsBadTokenChallenge)
		})
	}
}
