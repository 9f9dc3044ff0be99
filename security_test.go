package jwtextended

// The attack list of issue 6 as tests: one named subtest per attack, each
// against a real handler chain (a jwt_auth handler provisioned against a
// jwt app that runs in an in-process Caddy), each asserting the status and
// the message.
//
// Every attack token is signed properly with the configured key unless the
// attack is about the signature itself, so that the only thing standing
// between it and a 200 is the defence under test: remove that defence and
// the subtest fails. Each group also has a control that shows the same
// claims, presented the ordinary way, are accepted.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/standard"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"
)

const (
	secSecret      = "security-test-secret-0123456789abcdef"
	secOtherSecret = "attacker-secret-0123456789abcdef-xyz"
)

// secNow is the clock of every security test: tokens and the app agree on
// it, so no test depends on the wall clock.
var secNow = time.Unix(1_800_000_000, 0)

// secClaims is a valid access token's claims at secNow, with overrides
// (a nil value deletes the claim).
func secClaims(over map[string]any) map[string]any {
	now := secNow.Unix()
	c := map[string]any{
		"sub": "alice", "type": "access", "fresh": true, "jti": "jti-alice",
		"iat": now, "nbf": now, "exp": now + 900,
	}
	applyOverrides(c, over)
	return c
}

// secToken is a properly signed HS256 token with secClaims(over).
func secToken(t testing.TB, over map[string]any) string {
	t.Helper()
	return signToken(t, "HS256", []byte(secSecret), nil, secClaims(over))
}

// secHS256 signs raw header and payload JSON with the configured secret.
func secHS256(t testing.TB, header, payload string) string {
	t.Helper()
	return signRaw(t, "HS256", []byte(secSecret), []byte(header), []byte(payload))
}

// secSignSegments signs already-encoded header and payload segments as
// they are (even if they are not canonical base64url), with HMAC-SHA256
// and the configured secret, so that only the encoding check can refuse
// them.
func secSignSegments(h, p string) string {
	m := hmac.New(sha256.New, []byte(secSecret))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + b64url(m.Sum(nil))
}

// secLoad starts the jwt app with cfg and pins its clock to secNow.
func secLoad(t testing.TB, cfg string) *App {
	t.Helper()
	a := loadApp(t, cfg)
	a.now = func() time.Time { return secNow }
	return a
}

// secHandler provisions and validates a jwt_auth handler against the
// running app, as Caddy does.
func secHandler(t testing.TB, h Auth) *Auth {
	t.Helper()
	hh := h
	if err := hh.Provision(caddy.ActiveContext()); err != nil {
		t.Fatalf("provisioning jwt_auth: %v", err)
	}
	if err := hh.Validate(); err != nil {
		t.Fatalf("validating jwt_auth: %v", err)
	}
	return &hh
}

// secResult is what a client and the upstream saw.
type secResult struct {
	status    int
	msg       string
	challenge string
	// upstream is the request header the next handler got; nil when the
	// request never got there.
	upstream http.Header
}

// secServe runs one request through the handler and a recording next
// handler.
func secServe(t testing.TB, h *Auth, r *http.Request) secResult {
	t.Helper()
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	var res secResult
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.upstream = r.Header.Clone()
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte("upstream"))
		return err
	})
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP returned %v", err)
	}
	res.status = w.Code
	res.challenge = w.Header().Get("WWW-Authenticate")
	if w.Code != http.StatusOK {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("refusal Content-Type = %q, want application/json", ct)
		}
		var body struct {
			Msg string `json:"msg"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("refusal body %q is not {\"msg\":...}: %v", w.Body.String(), err)
		}
		res.msg = body.Msg
	}
	return res
}

// secRequest builds a request; headers are name, value pairs, kept
// exactly as given (no canonicalization) so that odd spellings reach the
// handler as a client could send them.
func secRequest(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header[headers[i]] = append(r.Header[headers[i]], headers[i+1])
	}
	return r
}

func secBearer(tok string) *http.Request {
	return secRequest(http.MethodGet, "/", "Authorization", "Bearer "+tok)
}

// secCase is one attack (or one control).
type secCase struct {
	name   string
	auth   Auth
	req    *http.Request
	status int
	msg    string // for refusals
	// identity is the X-Jwt-Identity the upstream must get (status 200).
	identity string
}

// secRun serves each case and checks status, message, challenge and what
// reached the upstream.
func secRun(t *testing.T, cases []secCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := secHandler(t, c.auth)
			res := secServe(t, h, c.req)
			if res.status != c.status {
				t.Fatalf("status = %d (msg %q), want %d", res.status, res.msg, c.status)
			}
			if c.status == http.StatusOK {
				if res.upstream == nil {
					t.Fatal("200 but the upstream was not called")
				}
				if c.identity != "" {
					if got := res.upstream.Get(hdrIdentity); got != c.identity {
						t.Fatalf("X-Jwt-Identity = %q, want %q", got, c.identity)
					}
				}
				return
			}
			if res.msg != c.msg {
				t.Fatalf("msg = %q, want %q", res.msg, c.msg)
			}
			if res.upstream != nil {
				t.Fatal("a refused request reached the upstream")
			}
			if c.status == http.StatusUnauthorized && !strings.HasPrefix(res.challenge, "Bearer") {
				t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", res.challenge)
			}
		})
	}
}

// secB64Std re-encodes a base64url segment in the standard alphabet.
func secB64Std(seg string) string {
	return strings.NewReplacer("-", "+", "_", "/").Replace(seg)
}

// secPayloadWithURLChars returns claims whose base64url payload holds both
// '-' and '_', so that a standard-alphabet spelling differs from it.
func secPayloadWithURLChars(t testing.TB) string {
	t.Helper()
	for i := 0; i < 10000; i++ {
		p := b64url(mustJSON(t, secClaims(map[string]any{"pad": strings.Repeat("~?>", i%5) + strconv.Itoa(i*7919)})))
		if strings.Contains(p, "-") && strings.Contains(p, "_") {
			return p
		}
	}
	t.Fatal("no payload with both '-' and '_' found")
	return ""
}

// secFlipLastBits changes the unused low bits of a segment's last
// character: a lenient decoder reads the same bytes, a strict one refuses.
func secFlipLastBits(t testing.TB, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		t.Fatalf("segment %q has no unused bits", seg)
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

func secSegments(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}

const secHeaderHS256 = `{"alg":"HS256","typ":"JWT"}`

// TestSecurityAttacks covers the token attacks that need only the HMAC
// configuration of the app.
func TestSecurityAttacks(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`"}`)
	valid := secToken(t, nil)
	now := secNow.Unix()
	claimsJSON := string(mustJSON(t, secClaims(nil)))
	h, p, s := secSegments(valid)

	var cases []secCase
	add := func(c ...secCase) { cases = append(cases, c...) }
	refuse := func(name, tok, msg string) secCase {
		return secCase{name: name, req: secBearer(tok), status: 401, msg: msg}
	}

	add(secCase{name: "control/valid_hs256", req: secBearer(valid), status: 200, identity: "alice"})

	// alg none, every spelling, with and without a signature. The signed
	// variants carry an HMAC of the real secret over their own signing
	// input, so only the algorithm pin refuses them.
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		hdr := `{"alg":"` + alg + `","typ":"JWT"}`
		unsigned := b64url([]byte(hdr)) + "." + b64url([]byte(claimsJSON)) + "."
		add(refuse("alg_none/"+alg+"/no_signature", unsigned, "Not enough segments"))
		add(refuse("alg_none/"+alg+"/no_signature_no_dot", strings.TrimSuffix(unsigned, "."), "Not enough segments"))
		add(refuse("alg_none/"+alg+"/hmac_signature", secHS256(t, hdr, claimsJSON), "The specified alg value is not allowed"))
		add(refuse("alg_none/"+alg+"/garbage_signature", unsigned+"c2lnbmF0dXJl", "The specified alg value is not allowed"))
	}
	add(refuse("alg_missing", secHS256(t, `{"typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("alg_empty", secHS256(t, `{"alg":"","typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("alg_lowercase_hs256", secHS256(t, `{"alg":"hs256","typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("alg_not_a_string", secHS256(t, `{"alg":["HS256"],"typ":"JWT"}`, claimsJSON), "Invalid header"))

	// The algorithm swapped within the HMAC family: an HMAC of the real
	// secret with another hash.
	add(refuse("alg_family/HS384_header_hs256_key", signToken(t, "HS384", []byte(secSecret), nil, secClaims(nil)), "The specified alg value is not allowed"))
	add(refuse("alg_family/HS512_header_hs256_key", signToken(t, "HS512", []byte(secSecret), nil, secClaims(nil)), "The specified alg value is not allowed"))
	add(refuse("alg_family/HS384_header_hs256_signature", secSignSegments(b64url([]byte(`{"alg":"HS384","typ":"JWT"}`)), p), "The specified alg value is not allowed"))

	// kid: it only selects among configured keys; this app has none with a
	// kid. Each token is signed with the real secret.
	for _, k := range []struct{ name, kid string }{
		{"path_traversal", "../../etc/passwd"},
		{"path_traversal_null", "../../../dev/null"},
		{"sql", "' OR 1=1 --"},
		{"sql_union", "x' UNION SELECT 'secret"},
		{"command", "$(touch /tmp/pwned)|id"},
		{"url", "http://127.0.0.1:1/key"},
		{"unknown", "some-other-key"},
		{"empty", ""},
	} {
		add(refuse("kid/"+k.name, signToken(t, "HS256", []byte(secSecret), map[string]any{"kid": k.kid}, secClaims(nil)), "Unknown key id"))
	}
	add(refuse("kid/null", secHS256(t, `{"alg":"HS256","kid":null}`, claimsJSON), "Unknown key id"))
	add(refuse("kid/long_1KiB", signToken(t, "HS256", []byte(secSecret), map[string]any{"kid": strings.Repeat("k", 1024)}, secClaims(nil)), "Invalid key id"))
	add(refuse("kid/long_10KiB", signToken(t, "HS256", []byte(secSecret), map[string]any{"kid": strings.Repeat("k", 10<<10)}, secClaims(nil)), "Token is too large"))
	add(refuse("kid/number", secHS256(t, `{"alg":"HS256","kid":1}`, claimsJSON), "Invalid key id"))
	add(refuse("kid/object", secHS256(t, `{"alg":"HS256","kid":{"file":"/etc/passwd"}}`, claimsJSON), "Invalid key id"))
	add(refuse("kid/array", secHS256(t, `{"alg":"HS256","kid":["a"]}`, claimsJSON), "Invalid key id"))
	add(refuse("kid/bool", secHS256(t, `{"alg":"HS256","kid":true}`, claimsJSON), "Invalid key id"))

	// crit: no extension is understood, so any crit refuses.
	add(refuse("crit/exp", secHS256(t, `{"alg":"HS256","crit":["exp"],"exp":1}`, claimsJSON), "Unsupported critical header"))
	add(refuse("crit/b64", secHS256(t, `{"alg":"HS256","crit":["b64"],"b64":false}`, claimsJSON), "Unsupported critical header"))
	add(refuse("crit/empty", secHS256(t, `{"alg":"HS256","crit":[]}`, claimsJSON), "Unsupported critical header"))
	add(refuse("crit/null", secHS256(t, `{"alg":"HS256","crit":null}`, claimsJSON), "Unsupported critical header"))

	// Signatures: stripped, truncated, extended, flipped, forged.
	sig, _ := base64.RawURLEncoding.DecodeString(s)
	add(refuse("signature/stripped", h+"."+p+".", "Not enough segments"))
	add(refuse("signature/stripped_no_dot", h+"."+p, "Not enough segments"))
	add(refuse("signature/truncated_one_byte", h+"."+p+"."+b64url(sig[:len(sig)-1]), "Signature verification failed"))
	add(refuse("signature/truncated_half", h+"."+p+"."+b64url(sig[:len(sig)/2]), "Signature verification failed"))
	// 42 characters leave non-zero trailing bits: not canonical
	add(refuse("signature/truncated_one_char", h+"."+p+"."+s[:len(s)-1], "Invalid token encoding"))
	add(refuse("signature/extended_one_byte", h+"."+p+"."+b64url(append(append([]byte{}, sig...), 0)), "Signature verification failed"))
	add(refuse("signature/extended_doubled", h+"."+p+"."+b64url(append(append([]byte{}, sig...), sig...)), "Signature verification failed"))
	flipped := append([]byte{}, sig...)
	flipped[0] ^= 1
	add(refuse("signature/bit_flipped", h+"."+p+"."+b64url(flipped), "Signature verification failed"))
	add(refuse("signature/other_secret", signToken(t, "HS256", []byte(secOtherSecret), nil, secClaims(nil)), "Signature verification failed"))
	add(refuse("signature/empty_key", signToken(t, "HS256", []byte{}, nil, secClaims(nil)), "Signature verification failed"))
	add(refuse("signature/payload_swapped", h+"."+b64url(mustJSON(t, secClaims(map[string]any{"sub": "admin"})))+"."+s, "Signature verification failed"))

	// base64url: one spelling per token. Each variant is signed over its
	// own spelling, so only the strict decoder refuses it.
	padded := func(js string) string {
		for !strings.HasSuffix(base64.URLEncoding.EncodeToString([]byte(js)), "=") {
			js += " "
		}
		return base64.URLEncoding.EncodeToString([]byte(js))
	}
	add(refuse("base64/padded_header", secSignSegments(padded(secHeaderHS256), p), "Invalid token encoding"))
	add(refuse("base64/padded_payload", secSignSegments(h, padded(claimsJSON)), "Invalid token encoding"))
	add(secCase{name: "control/unpadded_spelling_of_padded_payload", req: secBearer(secSignSegments(h, strings.TrimRight(padded(claimsJSON), "="))), status: 200, identity: "alice"})
	add(refuse("base64/padded_signature", h+"."+p+"."+s+"=", "Invalid token encoding"))
	pu := secPayloadWithURLChars(t)
	add(secCase{name: "control/payload_with_url_alphabet", req: secBearer(secSignSegments(h, pu)), status: 200, identity: "alice"})
	add(refuse("base64/standard_alphabet_payload", secSignSegments(h, secB64Std(pu)), "Invalid token encoding"))
	stdSig := s
	for i := 0; !strings.ContainsAny(stdSig, "-_"); i++ {
		// find a signature that has URL-alphabet characters
		tok := secToken(t, map[string]any{"n": i})
		h2, p2, s2 := secSegments(tok)
		h, p, stdSig = h2, p2, s2
	}
	add(refuse("base64/standard_alphabet_signature", h+"."+p+"."+secB64Std(stdSig), "Invalid token encoding"))
	h, p, s = secSegments(valid)
	add(refuse("base64/non_canonical_signature_bits", h+"."+p+"."+secFlipLastBits(t, s), "Invalid token encoding"))
	np := b64url([]byte(claimsJSON))
	if len(np)%4 != 0 {
		add(refuse("base64/non_canonical_payload_bits", secSignSegments(h, secFlipLastBits(t, np)), "Invalid token encoding"))
	}
	add(refuse("base64/whitespace_in_signature", h+"."+p+"."+s[:10]+"\t"+s[10:], "Invalid token encoding"))

	// Segments: two, four and five (a JWE has five).
	add(refuse("segments/one", h, "Not enough segments"))
	add(refuse("segments/two", h+"."+p, "Not enough segments"))
	add(refuse("segments/four", valid+"."+s, "Not enough segments"))
	add(refuse("segments/four_empty_last", valid+".", "Not enough segments"))
	add(refuse("segments/five_jwe_shape", h+"."+p+"."+s+"."+s+"."+s, "Not enough segments"))
	add(refuse("segments/empty_header", "."+p+"."+s, "Not enough segments"))
	add(refuse("segments/empty_payload", h+".."+s, "Not enough segments"))
	add(refuse("segments/dots_only", "..", "Not enough segments"))

	// Duplicate and case-variant claim names, in the payload and the
	// header. Each is signed with the real secret.
	dup := func(name, payload string) {
		add(refuse("duplicate_claims/"+name, secHS256(t, secHeaderHS256, payload), "Duplicate claim names are not allowed"))
	}
	exp := strconv.FormatInt(now+900, 10)
	base := `"fresh":true,"jti":"j","exp":` + exp
	dup("sub_twice", `{"sub":"alice","sub":"admin","type":"access",`+base+`}`)
	dup("type_twice", `{"sub":"alice","type":"refresh","type":"access",`+base+`}`)
	dup("type_case_variant", `{"sub":"alice","type":"refresh","Type":"access",`+base+`}`)
	dup("type_escaped_spelling", `{"sub":"alice","type":"refresh","typ\u0065":"access",`+base+`}`)
	dup("sub_escaped_spelling", `{"sub":"alice","\u0073ub":"admin","type":"access",`+base+`}`)
	dup("exp_upper_case", `{"sub":"alice","type":"access","EXP":99999999999,`+base+`}`)
	dup("fresh_twice", `{"sub":"alice","type":"access","fresh":false,`+base+`}`)
	dup("nested_object", `{"sub":"alice","type":"access","ctx":{"role":"user","ROLE":"admin"},`+base+`}`)
	// names that encoding/json's case-insensitive struct matching folds
	// together (U+017F long s folds to s, U+212A Kelvin sign to k): an
	// upstream decoding X-Jwt-Claims into a struct would read the second
	dup("unicode_fold_long_s", `{"sub":"alice","\u017fub":"admin","type":"access",`+base+`}`)
	dup("unicode_fold_kelvin_nested", `{"sub":"alice","type":"access","ctx":{"kind":"user","\u212aind":"admin"},`+base+`}`)
	add(refuse("duplicate_header/kid_kelvin_sign", secHS256(t, `{"alg":"HS256","kid":"a","\u212aid":"b"}`, claimsJSON), "Invalid header"))
	add(refuse("payload/invalid_utf8", secHS256(t, secHeaderHS256, "{\"sub\":\"alice\xff\",\"exp\":"+exp+"}"), "Invalid payload"))
	// header parameter names are case-sensitive: "Alg" is not alg
	add(refuse("header_names/Alg", secHS256(t, `{"Alg":"HS256"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("header_names/ALG", secHS256(t, `{"ALG":"HS256","typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("header_names/Kid_is_not_kid_alg_missing", secHS256(t, `{"Alg":"HS256","Kid":"k"}`, claimsJSON), "The specified alg value is not allowed"))
	add(secCase{name: "control/header_unknown_Kid_ignored", req: secBearer(secHS256(t, `{"alg":"HS256","Kid":"k"}`, claimsJSON)), status: 200, identity: "alice"})
	add(refuse("duplicate_header/alg_twice", secHS256(t, `{"alg":"none","alg":"HS256"}`, claimsJSON), "Invalid header"))
	add(refuse("duplicate_header/alg_case_variant", secHS256(t, `{"alg":"HS256","ALG":"none"}`, claimsJSON), "Invalid header"))
	add(refuse("duplicate_header/kid_case_variant", secHS256(t, `{"alg":"HS256","kid":"a","KID":"b"}`, claimsJSON), "Invalid header"))
	add(refuse("duplicate_header/kid_escaped", secHS256(t, `{"alg":"HS256","kid":"a","\u006bid":"b"}`, claimsJSON), "Invalid header"))
	add(refuse("payload/trailing_data", secHS256(t, secHeaderHS256, claimsJSON+`{"sub":"admin"}`), "Invalid payload"))
	add(refuse("payload/not_an_object", secHS256(t, secHeaderHS256, `["sub","admin"]`), "Invalid payload"))
	add(refuse("payload/null", secHS256(t, secHeaderHS256, `null`), "Invalid payload"))
	add(refuse("payload/deeply_nested", secHS256(t, secHeaderHS256, `{"sub":"alice","exp":`+exp+`,"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`), "Invalid payload"))
	add(refuse("header/not_json", secSignSegments(b64url([]byte("HS256")), p), "Invalid header"))

	// Typed claims: registered times must be numbers.
	add(refuse("typed/exp_string", secToken(t, map[string]any{"exp": strconv.FormatInt(now+900, 10)}), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_null", secHS256(t, secHeaderHS256, `{"sub":"alice","exp":null}`), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_bool", secToken(t, map[string]any{"exp": true}), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_array", secToken(t, map[string]any{"exp": []int64{now + 900}}), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/exp_huge_exponent", secHS256(t, secHeaderHS256, `{"sub":"alice","exp":1e999}`), "Expiration Time claim (exp) must be a number"))
	add(refuse("typed/nbf_string", secToken(t, map[string]any{"nbf": "0"}), "Not Before claim (nbf) must be a number"))
	add(refuse("typed/iat_object", secToken(t, map[string]any{"iat": map[string]any{}}), "Issued At claim (iat) must be a number"))
	add(refuse("typed/type_number", secToken(t, map[string]any{"type": 1}), "Invalid token type"))
	add(refuse("typed/type_unknown", secToken(t, map[string]any{"type": "admin"}), "Invalid token type"))
	add(refuse("typed/type_null", secHS256(t, secHeaderHS256, `{"sub":"alice","type":null,"exp":`+exp+`}`), "Invalid token type"))
	add(refuse("typed/type_upper_case_value", secToken(t, map[string]any{"type": "ACCESS"}), "Invalid token type"))
	add(refuse("typed/jti_number", secToken(t, map[string]any{"jti": 7}), "Invalid jti claim"))
	add(refuse("typed/sub_object", secToken(t, map[string]any{"sub": map[string]any{"name": "admin"}}), "Identity claim must be a string or a number"))
	add(refuse("typed/sub_bool", secToken(t, map[string]any{"sub": true}), "Identity claim must be a string or a number"))
	add(refuse("typed/sub_empty", secToken(t, map[string]any{"sub": ""}), "Identity claim must not be empty"))
	add(refuse("typed/sub_missing", secToken(t, map[string]any{"sub": nil}), "Missing identity claim"))

	// fresh: only a JSON true, or a number not in the past, is fresh.
	fresh := Auth{FreshRequired: true}
	add(secCase{name: "control/fresh_true", auth: fresh, req: secBearer(secToken(t, nil)), status: 200, identity: "alice"})
	add(secCase{name: "control/fresh_until_future", auth: fresh, req: secBearer(secToken(t, map[string]any{"fresh": now + 60})), status: 200, identity: "alice"})
	for _, v := range []struct {
		name string
		val  any
	}{
		{"string_true", "true"}, {"one", 1}, {"array_true", []bool{true}}, {"object", map[string]any{}},
		{"false", false}, {"until_past", now - 1}, {"string_future_time", strconv.FormatInt(now+60, 10)},
	} {
		add(secCase{name: "typed/fresh_" + v.name, auth: fresh, req: secBearer(secToken(t, map[string]any{"fresh": v.val})), status: 401, msg: "Fresh token required"})
	}
	add(secCase{name: "typed/fresh_null", auth: fresh, req: secBearer(secHS256(t, secHeaderHS256, `{"sub":"alice","type":"access","fresh":null,"exp":`+exp+`}`)), status: 401, msg: "Fresh token required"})
	add(secCase{name: "typed/fresh_missing", auth: fresh, req: secBearer(secToken(t, map[string]any{"fresh": nil})), status: 401, msg: "Fresh token required"})

	// Time claims without leeway.
	add(refuse("time/nbf_future", secToken(t, map[string]any{"nbf": now + 30}), "The token is not yet valid (nbf)"))
	add(refuse("time/iat_future", secToken(t, map[string]any{"iat": now + 30}), "The token is not yet valid (iat)"))
	add(refuse("time/nbf_future_fraction", secToken(t, map[string]any{"nbf": float64(now) + 0.5}), "The token is not yet valid (nbf)"))
	add(refuse("time/expired", secToken(t, map[string]any{"exp": now - 1}), "Token has expired"))
	add(refuse("time/expires_now", secToken(t, map[string]any{"exp": now}), "Token has expired"))
	add(refuse("time/exp_zero", secToken(t, map[string]any{"exp": 0}), "Token has expired"))
	add(refuse("time/exp_negative", secToken(t, map[string]any{"exp": -1}), "Token has expired"))
	add(refuse("time/missing_exp", secToken(t, map[string]any{"exp": nil}), `Token is missing the "exp" claim`))
	add(secCase{name: "control/no_nbf_no_iat", req: secBearer(secToken(t, map[string]any{"nbf": nil, "iat": nil})), status: 200, identity: "alice"})

	// Audience: a verifier that is not configured with one refuses a
	// token meant for an audience.
	add(refuse("aud/present_but_not_configured", secToken(t, map[string]any{"aud": "api"}), "Invalid audience"))
	add(secCase{name: "control/iss_not_checked_when_not_configured", req: secBearer(secToken(t, map[string]any{"iss": "https://other.example"})), status: 200, identity: "alice"})

	// Control characters in claims, spelled as JSON escapes (raw ones are
	// not valid JSON). Each could split a header or a log line downstream.
	for _, v := range []struct{ name, payload string }{
		{"cr_lf_in_sub", `{"sub":"alice\r\nX-Jwt-Identity: admin","exp":` + exp + `}`},
		{"lf_in_sub", `{"sub":"alice\nadmin","exp":` + exp + `}`},
		{"cr_in_sub", `{"sub":"alice\radmin","exp":` + exp + `}`},
		{"nul_in_sub", `{"sub":"alice\u0000admin","exp":` + exp + `}`},
		{"del_in_sub", `{"sub":"alice\u007fadmin","exp":` + exp + `}`},
		{"tab_in_jti", `{"sub":"alice","jti":"a\tb","exp":` + exp + `}`},
		{"lf_in_custom_claim", `{"sub":"alice","role":"user\nadmin","exp":` + exp + `}`},
		{"lf_in_nested_claim", `{"sub":"alice","ctx":{"a":["x","y\n"]},"exp":` + exp + `}`},
		{"lf_in_claim_name", `{"sub":"alice","ro\nle":"admin","exp":` + exp + `}`},
		{"escaped_unicode_newline", `{"sub":"alice\u000aadmin","exp":` + exp + `}`},
	} {
		add(refuse("control_chars/"+v.name, secHS256(t, secHeaderHS256, v.payload), "Claims must not contain control characters"))
	}
	add(refuse("control_chars/raw_newline_is_invalid_json", secHS256(t, secHeaderHS256, "{\"sub\":\"alice\nadmin\",\"exp\":"+exp+"}"), "Invalid payload"))

	// Token types.
	add(refuse("type/refresh_on_access_route", secToken(t, map[string]any{"type": "refresh", "fresh": false}), "Only non-refresh tokens are allowed"))
	add(secCase{name: "type/access_on_refresh_route", auth: Auth{TokenType: "refresh"}, req: secBearer(valid), status: 401, msg: "Only refresh tokens are allowed"})
	add(secCase{name: "control/no_type_is_access", req: secBearer(secToken(t, map[string]any{"type": nil})), status: 200, identity: "alice"})

	// Several Authorization headers, and odd ones.
	add(secCase{name: "authorization/two_headers_same_token", req: secRequest("GET", "/", "Authorization", "Bearer "+valid, "Authorization", "Bearer "+valid), status: 401, msg: "Only one Authorization header is allowed"})
	add(secCase{name: "authorization/two_headers_valid_then_forged", req: secRequest("GET", "/", "Authorization", "Bearer "+valid, "Authorization", "Bearer "+signToken(t, "HS256", []byte(secOtherSecret), nil, secClaims(map[string]any{"sub": "admin"}))), status: 401, msg: "Only one Authorization header is allowed"})
	add(secCase{name: "authorization/two_tokens_one_line", req: secRequest("GET", "/", "Authorization", "Bearer "+valid+", Bearer "+valid), status: 401, msg: "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
	add(secCase{name: "authorization/basic_scheme", req: secRequest("GET", "/", "Authorization", "Basic YWxpY2U6cHc="), status: 401, msg: "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
	add(secCase{name: "authorization/token_without_scheme", req: secRequest("GET", "/", "Authorization", valid), status: 401, msg: "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
	add(secCase{name: "authorization/empty", req: secRequest("GET", "/", "Authorization", ""), status: 401, msg: "Missing Authorization Header"})
	add(secCase{name: "authorization/missing", req: secRequest("GET", "/"), status: 401, msg: "Missing Authorization Header"})
	add(secCase{name: "control/lowercase_bearer", req: secRequest("GET", "/", "Authorization", "bearer "+valid), status: 200, identity: "alice"})

	secRun(t, cases)
}

// TestSecurityBase64Newlines: Go's base64 decoders skip CR and LF even in
// strict mode, so a signature segment with a newline inserted decoded to
// the very same signature and was accepted: a second spelling of a valid
// token (a query value can carry %0A), and a way to plant unbounded
// distinct cache entries from one token. The token alphabet is now
// checked before decoding.
func TestSecurityBase64Newlines(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","token_from":["query"]}`)
	valid := secToken(t, nil)
	h, p, s := secSegments(valid)
	var cases []secCase
	for _, v := range []struct{ name, tok string }{
		{"lf_in_signature", h + "." + p + "." + s[:5] + "\n" + s[5:]},
		{"crlf_in_signature", h + "." + p + "." + s[:5] + "\r\n" + s[5:]},
		{"trailing_lf", valid + "\n"},
		{"lf_in_payload", h + "." + p[:5] + "\n" + p[5:] + "." + s},
	} {
		cases = append(cases, secCase{name: v.name, req: secRequest("GET", "/?jwt="+url.QueryEscape(v.tok)), status: 401, msg: "Invalid token encoding"})
	}
	cases = append(cases, secCase{name: "control/query_token", req: secRequest("GET", "/?jwt="+url.QueryEscape(valid)), status: 200, identity: "alice"})
	secRun(t, cases)
}

// TestSecurityUntrustedKeyHeaders: jku, x5u, x5c and an embedded jwk never
// choose a key and are never fetched. A local server stands in for the
// attacker's key host and must see no request at all.
func TestSecurityUntrustedKeyHeaders(t *testing.T) {
	var hits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"keys":[{"kty":"oct","k":%q,"alg":"HS256"}]}`, b64url([]byte(secOtherSecret)))
	}))
	defer attacker.Close()
	secLoad(t, `{"secret":"`+secSecret+`"}`)

	attackerJWK := map[string]any{"kty": "oct", "k": b64url([]byte(secOtherSecret)), "alg": "HS256"}
	// a syntactically plausible certificate chain entry: the attacker's
	// key is what it would carry
	x5c := []string{base64.StdEncoding.EncodeToString([]byte("not really a certificate, never parsed"))}
	headers := map[string]map[string]any{
		"jku":     {"jku": attacker.URL + "/jwks.json"},
		"x5u":     {"x5u": attacker.URL + "/cert.pem"},
		"x5c":     {"x5c": x5c},
		"jwk":     {"jwk": attackerJWK},
		"all":     {"jku": attacker.URL + "/jwks.json", "x5u": attacker.URL + "/cert.pem", "x5c": x5c, "jwk": attackerJWK},
		"jku_kid": {"jku": attacker.URL + "/jwks.json", "kid": "attacker"},
	}
	var cases []secCase
	for name, hdr := range headers {
		want := "Signature verification failed"
		if _, ok := hdr["kid"]; ok {
			want = "Unknown key id"
		}
		// signed with the attacker's key, which the header offers
		cases = append(cases, secCase{name: name + "/attacker_key", req: secBearer(signToken(t, "HS256", []byte(secOtherSecret), hdr, secClaims(map[string]any{"sub": "admin"}))), status: 401, msg: want})
		if _, ok := hdr["kid"]; ok {
			continue
		}
		// signed with the configured key: the header is ignored
		cases = append(cases, secCase{name: name + "/configured_key", req: secBearer(signToken(t, "HS256", []byte(secSecret), hdr, secClaims(nil))), status: 200, identity: "alice"})
	}
	secRun(t, cases)
	if n := hits.Load(); n != 0 {
		t.Fatalf("the key host named in a token header got %d requests, want 0", n)
	}
}

// TestSecurityIssuerAudience: wrong or missing iss and aud.
func TestSecurityIssuerAudience(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","issuer":"https://auth.example","audience":["api","admin-api"]}`)
	good := map[string]any{"iss": "https://auth.example", "aud": "api"}
	with := func(over map[string]any) string {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range over {
			c[k] = v
		}
		return secToken(t, c)
	}
	refuse := func(name, tok, msg string) secCase {
		return secCase{name: name, req: secBearer(tok), status: 401, msg: msg}
	}
	secRun(t, []secCase{
		{name: "control/iss_and_aud", req: secBearer(with(nil)), status: 200, identity: "alice"},
		{name: "control/aud_array_one_matches", req: secBearer(with(map[string]any{"aud": []string{"other", "admin-api"}})), status: 200, identity: "alice"},
		refuse("iss/missing", with(map[string]any{"iss": nil}), `Token is missing the "iss" claim`),
		refuse("iss/wrong", with(map[string]any{"iss": "https://evil.example"}), "Invalid issuer"),
		refuse("iss/prefix", with(map[string]any{"iss": "https://auth.example.evil"}), "Invalid issuer"),
		refuse("iss/case_variant", with(map[string]any{"iss": "https://AUTH.example"}), "Invalid issuer"),
		refuse("iss/array", with(map[string]any{"iss": []string{"https://auth.example"}}), "Invalid issuer"),
		refuse("iss/null", secHS256(t, secHeaderHS256, `{"sub":"alice","iss":null,"aud":"api","exp":`+strconv.FormatInt(secNow.Unix()+60, 10)+`}`), "Invalid issuer"),
		refuse("aud/missing", with(map[string]any{"aud": nil}), `Token is missing the "aud" claim`),
		refuse("aud/wrong", with(map[string]any{"aud": "other"}), "Invalid audience"),
		refuse("aud/array_none_matches", with(map[string]any{"aud": []string{"x", "y"}}), "Invalid audience"),
		refuse("aud/empty_array", with(map[string]any{"aud": []string{}}), "Invalid audience"),
		refuse("aud/number", with(map[string]any{"aud": 1}), "Invalid audience"),
		refuse("aud/nested_array", with(map[string]any{"aud": []any{[]string{"api"}}}), "Invalid audience"),
		refuse("aud/case_variant", with(map[string]any{"aud": "API"}), "Invalid audience"),
	})
}

// TestSecurityLeeway: nbf and iat in the future, and exp in the past,
// inside and outside a leeway of 60s.
func TestSecurityLeeway(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","leeway":"60s"}`)
	now := secNow.Unix()
	tok := func(over map[string]any) *http.Request { return secBearer(secToken(t, over)) }
	secRun(t, []secCase{
		{name: "control/nbf_future_within_leeway", req: tok(map[string]any{"nbf": now + 59}), status: 200, identity: "alice"},
		{name: "control/iat_future_within_leeway", req: tok(map[string]any{"iat": now + 59}), status: 200, identity: "alice"},
		{name: "control/expired_within_leeway", req: tok(map[string]any{"exp": now - 59}), status: 200, identity: "alice"},
		{name: "nbf_future_beyond_leeway", req: tok(map[string]any{"nbf": now + 61}), status: 401, msg: "The token is not yet valid (nbf)"},
		{name: "iat_future_beyond_leeway", req: tok(map[string]any{"iat": now + 61}), status: 401, msg: "The token is not yet valid (iat)"},
		{name: "expired_beyond_leeway", req: tok(map[string]any{"exp": now - 61}), status: 401, msg: "Token has expired"},
	})
}

// TestSecurityHMACFamilyPin: an app pinned to HS384 refuses HS256 and
// HS512 tokens made with its own secret.
func TestSecurityHMACFamilyPin(t *testing.T) {
	secret := secSecret + "-0123456789abc"
	secLoad(t, `{"secret":"`+secret+`","algorithm":"HS384"}`)
	sign := func(alg string) *http.Request {
		return secBearer(signToken(t, alg, []byte(secret), nil, secClaims(nil)))
	}
	secRun(t, []secCase{
		{name: "control/HS384", req: sign("HS384"), status: 200, identity: "alice"},
		{name: "HS256_with_hs384_secret", req: sign("HS256"), status: 401, msg: "The specified alg value is not allowed"},
		{name: "HS512_with_hs384_secret", req: sign("HS512"), status: 401, msg: "The specified alg value is not allowed"},
	})
}

// secTokenOfSize returns a valid token of exactly one of the sizes given
// (padding a claim; base64 skips some lengths), or fails.
func secTokenOfSize(t testing.TB, sizes ...int) string {
	t.Helper()
	for _, n := range sizes {
		for pad := n/2 + n/8; pad < n; pad++ {
			tok := secToken(t, map[string]any{"pad": strings.Repeat("p", pad)})
			if len(tok) == n {
				return tok
			}
			if len(tok) > n {
				break
			}
		}
	}
	t.Fatalf("no token of any of the sizes %v", sizes)
	return ""
}

// TestSecurityTokenSizeCap: the cap applies in the header, the cookie and
// the query, and a token at the cap is still accepted.
func TestSecurityTokenSizeCap(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","token_from":["header","cookie","query"]}`)
	atCap := secTokenOfSize(t, jws.MaxTokenSize)
	over := secTokenOfSize(t, jws.MaxTokenSize+1, jws.MaxTokenSize+2, jws.MaxTokenSize+3)
	huge := secToken(t, map[string]any{"pad": strings.Repeat("p", 1<<20)})
	var cases []secCase
	for _, v := range []struct {
		name, tok string
		status    int
	}{{"at_cap", atCap, 200}, {"over_cap", over, 401}, {"1MiB", huge, 401}} {
		for _, src := range []struct {
			name string
			req  *http.Request
		}{
			{"header", secBearer(v.tok)},
			{"cookie", secRequest("GET", "/", "Cookie", accessCookieName+"="+v.tok)},
			{"query", secRequest("GET", "/?jwt="+v.tok)},
		} {
			c := secCase{name: src.name + "/" + v.name, req: src.req, status: v.status}
			if v.status == 200 {
				c.identity = "alice"
			} else {
				c.msg = "Token is too large"
			}
			cases = append(cases, c)
		}
	}
	secRun(t, cases)
}

// TestSecurityHeaderCookieCSRF: which token wins when a header and a
// cookie both carry one, and that the CSRF double submit check cannot be
// bypassed by adding a header of another kind.
func TestSecurityHeaderCookieCSRF(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","token_from":["header","cookie"]}`)
	alice := secToken(t, map[string]any{"csrf": "csrf-alice"})
	mallory := secToken(t, map[string]any{"sub": "mallory", "jti": "jti-mallory", "csrf": "csrf-mallory"})
	noCSRF := secToken(t, map[string]any{"sub": "carol", "jti": "jti-carol"})
	cookie := func(tok string) string { return accessCookieName + "=" + tok }
	var cases []secCase
	add := func(c secCase) { cases = append(cases, c) }

	// The header wins; a header token needs no CSRF header.
	add(secCase{name: "header_and_cookie/get_header_wins", req: secRequest("GET", "/", "Authorization", "Bearer "+alice, "Cookie", cookie(mallory)), status: 200, identity: "alice"})
	add(secCase{name: "header_and_cookie/post_header_wins_no_csrf_needed", req: secRequest("POST", "/", "Authorization", "Bearer "+alice, "Cookie", cookie(mallory)), status: 200, identity: "alice"})
	add(secCase{name: "header_and_cookie/forged_header_does_not_fall_back_to_cookie", req: secRequest("GET", "/", "Authorization", "Bearer "+signToken(t, "HS256", []byte(secOtherSecret), nil, secClaims(nil)), "Cookie", cookie(mallory)), status: 401, msg: "Signature verification failed"})
	add(secCase{name: "control/cookie_get_needs_no_csrf", req: secRequest("GET", "/", "Cookie", cookie(mallory)), status: 200, identity: "mallory"})

	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		add(secCase{name: "csrf/" + m + "/missing", req: secRequest(m, "/", "Cookie", cookie(alice)), status: 401, msg: "Missing CSRF token"})
		add(secCase{name: "csrf/" + m + "/wrong", req: secRequest(m, "/", "Cookie", cookie(alice), "X-Csrf-Token", "guess"), status: 401, msg: "CSRF double submit tokens do not match"})
		add(secCase{name: "csrf/" + m + "/from_another_token", req: secRequest(m, "/", "Cookie", cookie(alice), "X-Csrf-Token", "csrf-mallory"), status: 401, msg: "CSRF double submit tokens do not match"})
		add(secCase{name: "control/csrf_" + m + "_matching", req: secRequest(m, "/", "Cookie", cookie(alice), "X-Csrf-Token", "csrf-alice"), status: 200, identity: "alice"})
	}
	add(secCase{name: "csrf/prefix_of_claim", req: secRequest("POST", "/", "Cookie", cookie(alice), "X-Csrf-Token", "csrf-ali"), status: 401, msg: "CSRF double submit tokens do not match"})
	add(secCase{name: "csrf/empty_header", req: secRequest("POST", "/", "Cookie", cookie(alice), "X-Csrf-Token", ""), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/token_without_csrf_claim", req: secRequest("POST", "/", "Cookie", cookie(noCSRF), "X-Csrf-Token", ""+"anything"), status: 401, msg: "Missing claim: csrf"})
	// CSRF can't be bypassed by adding an Authorization header the
	// attacker can make a browser send (none, or another scheme): the
	// cookie is still the token, and still needs the double submit.
	add(secCase{name: "csrf/bypass_with_basic_authorization", req: secRequest("POST", "/", "Authorization", "Basic YTpi", "Cookie", cookie(alice)), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/bypass_with_empty_bearer", req: secRequest("POST", "/", "Authorization", "Bearer ", "Cookie", cookie(alice)), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/csrf_cookie_is_not_the_header", req: secRequest("POST", "/", "Cookie", cookie(alice)+"; "+accessCSRFCookie+"=csrf-alice"), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/duplicate_cookie_first_wins", req: secRequest("POST", "/", "Cookie", cookie(alice)+"; "+cookie(mallory), "X-Csrf-Token", "csrf-mallory"), status: 401, msg: "CSRF double submit tokens do not match"})
	secRun(t, cases)
}

// secJWTHeaderNames are the headers jwt_auth sets, and the only X-Jwt-*
// names an upstream may see.
var secJWTHeaderNames = []string{hdrIdentity, hdrType, hdrFresh, hdrJTI, hdrExp, hdrClaims}

// secCheckUpstreamJWTHeaders fails unless every header whose name, read
// case-insensitively with '_' and '.' as '-', starts with x-jwt- is one the module
// set, once, with the value it set.
func secCheckUpstreamJWTHeaders(t testing.TB, got http.Header, want map[string]string) {
	t.Helper()
	for name, vals := range got {
		norm := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
		if !strings.HasPrefix(norm, "x-jwt-") {
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("upstream got %s: %q, which the module did not set", name, vals)
			continue
		}
		if len(vals) != 1 || vals[0] != w {
			t.Errorf("upstream got %s: %q, want exactly [%q]", name, vals, w)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("upstream did not get %s", name)
		}
	}
	for _, line := range got.Values("Connection") {
		for _, tok := range strings.Split(line, ",") {
			if n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(strings.TrimSpace(tok))); strings.HasPrefix(n, "x-jwt-") {
				t.Errorf("Connection still lists %q, which would make a proxy drop the module's header", tok)
			}
		}
	}
}

// TestSecuritySpoofedJWTHeaders: a client's own X-Jwt-* headers never
// reach the upstream, in any spelling, repeated or named in Connection.
func TestSecuritySpoofedJWTHeaders(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`"}`)
	tok := secToken(t, nil)
	claimsB64 := strings.Split(tok, ".")[1]
	want := map[string]string{
		hdrIdentity: "alice", hdrType: "access", hdrFresh: "true", hdrJTI: "jti-alice",
		hdrExp: strconv.FormatInt(secNow.Unix()+900, 10), hdrClaims: claimsB64,
	}
	spoof := []string{
		"X-Jwt-Identity", "admin",
		"X-Jwt-Identity", "root",
		"x-jwt-identity", "admin-lower",
		"X-JWT-IDENTITY", "admin-upper",
		"X_Jwt_Identity", "admin-underscore",
		"x_jwt_identity", "admin-underscore-lower",
		"X-Jwt_Identity", "admin-mixed",
		"X.Jwt.Identity", "admin-dotted",
		"x.jwt_identity", "admin-dotted-mixed",
		"X-Jwt-Fresh", "true",
		"X-Jwt-Claims", b64url([]byte(`{"sub":"admin","role":"admin"}`)),
		"X-Jwt-Role", "admin",
		"X_JWT_ROLE", "admin",
		"Connection", "keep-alive, X-Jwt-Identity",
		"Connection", "X_Jwt_Fresh",
	}
	h := secHandler(t, Auth{})
	t.Run("valid_token", func(t *testing.T) {
		r := secRequest("GET", "/", append([]string{"Authorization", "Bearer " + tok}, spoof...)...)
		res := secServe(t, h, r)
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, want)
		if got := res.upstream.Values("Connection"); len(got) != 1 || got[0] != "keep-alive" {
			t.Errorf("Connection = %q, want [keep-alive]", got)
		}
	})
	t.Run("optional_no_token", func(t *testing.T) {
		res := secServe(t, secHandler(t, Auth{Optional: true}), secRequest("GET", "/", spoof...))
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, map[string]string{})
	})
	t.Run("optional_other_scheme", func(t *testing.T) {
		res := secServe(t, secHandler(t, Auth{Optional: true}), secRequest("GET", "/", append([]string{"Authorization", "Basic YTpi"}, spoof...)...))
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, map[string]string{})
	})
	t.Run("cors_preflight", func(t *testing.T) {
		r := secRequest("OPTIONS", "/", append([]string{"Access-Control-Request-Method", "POST", "Origin", "https://app.example"}, spoof...)...)
		res := secServe(t, h, r)
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, map[string]string{})
	})
}

// TestSecurityCacheDoesNotBypassChecks: a token verified once (and so
// cached) is still checked against the clock, revocation, freshness and
// the route's type on every request.
func TestSecurityCacheDoesNotBypassChecks(t *testing.T) {
	a := secLoad(t, `{"secret":"`+secSecret+`"}`)
	tok := secToken(t, map[string]any{"fresh": secNow.Unix() + 10, "jti": "jti-cached"})
	h := secHandler(t, Auth{})
	fresh := secHandler(t, Auth{FreshRequired: true})
	refresh := secHandler(t, Auth{TokenType: "refresh"})
	step := func(name string, h *Auth, status int, msg string) {
		t.Run(name, func(t *testing.T) {
			res := secServe(t, h, secBearer(tok))
			if res.status != status || (status != 200 && res.msg != msg) {
				t.Fatalf("got %d %q, want %d %q", res.status, res.msg, status, msg)
			}
		})
	}
	step("first_use", h, 200, "")
	step("fresh_now", fresh, 200, "")
	step("wrong_type_even_if_cached", refresh, 401, "Only refresh tokens are allowed")
	a.now = func() time.Time { return secNow.Add(11 * time.Second) }
	step("fresh_window_passed", fresh, 401, "Fresh token required")
	if err := a.revoked.revoke(context.Background(), "jti-cached", secNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	step("revoked_after_cached", h, 401, "Token has been revoked")
	a.now = func() time.Time { return secNow.Add(901 * time.Second) }
	step("expired_after_cached", h, 401, "Token has expired")
}

// TestSecurityCacheBounded: distinct valid tokens beyond the cache bound
// never grow the cache past it.
func TestSecurityCacheBounded(t *testing.T) {
	a := secLoad(t, `{"secret":"`+secSecret+`","cache_size":64}`)
	for i := 0; i < 1000; i++ {
		if _, e := a.verify(secToken(t, map[string]any{"jti": "j" + strconv.Itoa(i)})); e != nil {
			t.Fatal(e)
		}
	}
	// the bound is per shard, rounded up
	limit := a.cache.Bound()
	if limit < 64 || limit > 64+16 {
		t.Fatalf("cache bound %d for cache_size 64", limit)
	}
	if n := a.cache.Len(); n > limit || n == 0 {
		t.Fatalf("cache holds %d tokens after 1000 distinct ones, want 1..%d", n, limit)
	}
}

// ---- end to end: a real Caddy from a Caddyfile, reverse_proxy to a
// recording upstream. This is the only way to show the hop-by-hop case:
// Caddy's proxy drops every header named in Connection.

// secFreePort returns a loopback port that was free a moment ago.
func secFreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// secStartCaddyfile adapts a Caddyfile (with %PORT% and %STORAGE%
// substituted) and runs it in-process. It returns the listen address.
// Caddy's running config is process-wide: callers must not run in
// parallel. caddytest is not used because it needs fixed ports (admin
// 2999, http 9080) that other test processes on the machine may hold.
func secStartCaddyfile(t testing.TB, caddyfile string) string {
	t.Helper()
	port := secFreePort(t)
	caddyfile = strings.NewReplacer("%PORT%", strconv.Itoa(port), "%STORAGE%", filepath.ToSlash(t.TempDir())).Replace(caddyfile)
	cfg, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v", err)
	}
	for _, w := range warn {
		t.Logf("Caddyfile warning: %s", w.Message)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return "127.0.0.1:" + strconv.Itoa(port)
}

// secUpstream records the headers and trailers of every request.
type secUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	headers  []http.Header
	trailers []http.Header
}

func secNewUpstream(t testing.TB) *secUpstream {
	u := &secUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.trailers = append(u.trailers, r.Trailer.Clone())
		u.mu.Unlock()
		w.WriteHeader(200)
		_, _ = w.Write([]byte("upstream"))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *secUpstream) last(t testing.TB) (http.Header, http.Header) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.headers) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.headers[len(u.headers)-1], u.trailers[len(u.trailers)-1]
}

// secRawRequest writes a request byte for byte (header names as given,
// repeated lines kept) and reads the response.
func secRawRequest(t testing.TB, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

const secCaddyfile = `{
	admin off
	persist_config off
	auto_https off
	storage file_system %STORAGE%
	jwt {
		secret ` + secSecret + `
		access_ttl 15m
	}
}
http://127.0.0.1:%PORT% {
	bind 127.0.0.1
	jwt_auth
	reverse_proxy %UPSTREAM%
}
`

// TestSecuritySpoofingEndToEnd drives a real Caddy with raw HTTP/1.1
// requests that carry spoofed X-Jwt-* lines in every spelling, repeated,
// and named in Connection, and checks what the upstream received.
func TestSecuritySpoofingEndToEnd(t *testing.T) {
	up := secNewUpstream(t)
	addr := secStartCaddyfile(t, strings.ReplaceAll(secCaddyfile, "%UPSTREAM%", up.Listener.Addr().String()))
	// The real clock: this token is valid now.
	now := time.Now().Unix()
	claims := map[string]any{"sub": "alice", "type": "access", "fresh": true, "jti": "jti-e2e", "iat": now, "nbf": now, "exp": now + 600}
	tok := signToken(t, "HS256", []byte(secSecret), nil, claims)
	want := map[string]string{
		hdrIdentity: "alice", hdrType: "access", hdrFresh: "true", hdrJTI: "jti-e2e",
		hdrExp: strconv.FormatInt(now+600, 10), hdrClaims: strings.Split(tok, ".")[1],
	}
	spoofLines := "X-Jwt-Identity: admin\r\n" +
		"X-Jwt-Identity: root\r\n" +
		"x-jwt-identity: admin-lower\r\n" +
		"X_Jwt_Identity: admin-underscore\r\n" +
		"x_jwt_identity: admin-underscore-lower\r\n" +
		"X-JWT_IDENTITY: admin-mixed\r\n" +
		"X.Jwt.Identity: admin-dotted\r\n" +
		"X-Jwt-Claims: " + b64url([]byte(`{"sub":"admin"}`)) + "\r\n" +
		"X-Jwt-Role: admin\r\n"

	t.Run("spelling_variants_and_repeats", func(t *testing.T) {
		resp, body := secRawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+tok+"\r\n"+spoofLines+"Connection: close\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		hdr, _ := up.last(t)
		secCheckUpstreamJWTHeaders(t, hdr, want)
	})
	t.Run("connection_names_identity", func(t *testing.T) {
		// Without the defence Caddy's proxy treats X-Jwt-Identity as
		// hop-by-hop and drops the header the module set: an upstream
		// that reads a missing identity as "anonymous" or falls back to
		// another source would be fooled.
		resp, body := secRawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+tok+"\r\n"+
			"Connection: X-Jwt-Identity, X-Jwt-Fresh\r\nConnection: x_jwt_claims\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		hdr, _ := up.last(t)
		secCheckUpstreamJWTHeaders(t, hdr, want)
	})
	t.Run("no_token_refused_before_upstream", func(t *testing.T) {
		before := len(up.headers)
		resp, body := secRawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"+spoofLines+"Connection: close\r\n\r\n")
		if resp.StatusCode != 401 || !strings.Contains(body, "Missing Authorization Header") {
			t.Fatalf("got %d %q, want 401 Missing Authorization Header", resp.StatusCode, body)
		}
		up.mu.Lock()
		after := len(up.headers)
		up.mu.Unlock()
		if after != before {
			t.Fatal("a refused request reached the upstream")
		}
	})
	t.Run("trailers", func(t *testing.T) {
		// Caddy forwards request trailers. An upstream that merges
		// trailers into headers would read these as identity claims.
		body := "chunk"
		raw := "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tok + "\r\n" +
			"Transfer-Encoding: chunked\r\nTrailer: X-Jwt-Identity, X_Jwt_Fresh, X-Other\r\nConnection: close\r\n\r\n" +
			strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n" +
			"X-Jwt-Identity: admin\r\nX_Jwt_Fresh: true\r\nX-Jwt-Claims: e30\r\nX-Other: kept\r\n\r\n"
		resp, rb := secRawRequest(t, addr, raw)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, rb)
		}
		hdr, tr := up.last(t)
		secCheckUpstreamJWTHeaders(t, hdr, want)
		for name, vals := range tr {
			if n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name)); strings.HasPrefix(n, "x-jwt-") {
				t.Errorf("upstream got trailer %s: %q", name, vals)
			}
		}
		if tr.Get("X-Other") != "kept" {
			t.Errorf("the control trailer X-Other did not reach the upstream (got %v): this test no longer shows anything", tr)
		}
	})
}

// ---- jwt_issue: login, CSRF on the issuer's cookie routes, limits.

const secPassword = "correct horse battery staple"

var (
	secHashOnce sync.Once
	secHashes   map[string]string
)

// secHash returns a bcrypt hash (minimum cost, for speed) of pw; the
// hashes used here are made once.
func secHash(t testing.TB, pw string) string {
	t.Helper()
	secHashOnce.Do(func() {
		secHashes = map[string]string{}
		for _, p := range []string{secPassword, strings.Repeat("p", 72)} {
			h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			if err != nil {
				panic(err)
			}
			secHashes[p] = string(h)
		}
	})
	h, ok := secHashes[pw]
	if !ok {
		t.Fatalf("no hash made for %q", pw)
	}
	return h
}

// secIssuer provisions a jwt_issue handler against the running app.
func secIssuer(t testing.TB, i Issue) *Issue {
	t.Helper()
	ii := i
	if err := ii.Provision(caddy.ActiveContext()); err != nil {
		t.Fatalf("provisioning jwt_issue: %v", err)
	}
	if err := ii.Validate(); err != nil {
		t.Fatalf("validating jwt_issue: %v", err)
	}
	return &ii
}

// secServeIssue runs one request through jwt_issue with Caddy's client IP
// set, and returns the recorder.
func secServeIssue(t testing.TB, h *Issue, ip string, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: ip})
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	if err := h.ServeHTTP(w, r.WithContext(ctx), next); err != nil {
		t.Fatalf("ServeHTTP returned %v", err)
	}
	return w
}

func secLoginReq(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return r
}

func secCreds(user, pw string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	return string(b)
}

func secWantMsg(t testing.TB, w *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	var body struct {
		Msg string `json:"msg"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != status || body.Msg != msg {
		t.Fatalf("got %d %q, want %d %q", w.Code, w.Body.String(), status, msg)
	}
}

// TestSecurityLogin: an unknown user and a wrong password get the same
// answer; a password over bcrypt's 72 bytes is refused rather than
// truncated; bodies are bounded; duplicated fields are refused.
func TestSecurityLogin(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`"}`)
	long := strings.Repeat("p", 72)
	h := secIssuer(t, Issue{
		Login: "/login", Reauth: "/reauth",
		Users: []User{
			{Name: "alice", Hash: secHash(t, secPassword)},
			{Name: "longpw", Hash: secHash(t, long)},
		},
		Throttle: &ThrottleConfig{Disabled: true},
	})
	const json_ = "application/json"
	login := func(body, ct string) *httptest.ResponseRecorder {
		return secServeIssue(t, h, "192.0.2.1", secLoginReq(body, ct))
	}

	t.Run("control/login", func(t *testing.T) {
		w := login(secCreds("alice", secPassword), json_)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"access_token"`) {
			t.Fatalf("got %d %q", w.Code, w.Body.String())
		}
	})
	t.Run("unknown_user_same_as_wrong_password", func(t *testing.T) {
		wrong := login(secCreds("alice", "wrong password"), json_)
		unknown := login(secCreds("mallory", "wrong password"), json_)
		unknownSame := login(secCreds("mallory", secPassword), json_)
		empty := login(secCreds("", ""), json_)
		secWantMsg(t, wrong, 401, "Bad username or password")
		for name, w := range map[string]*httptest.ResponseRecorder{"unknown": unknown, "unknown_with_real_password": unknownSame, "empty": empty} {
			if w.Code != wrong.Code || w.Body.String() != wrong.Body.String() {
				t.Errorf("%s: %d %q, wrong password: %d %q", name, w.Code, w.Body.String(), wrong.Code, wrong.Body.String())
			}
			if !reflectHeadersEqual(w.Header(), wrong.Header()) {
				t.Errorf("%s: headers %v, wrong password: %v", name, w.Header(), wrong.Header())
			}
		}
	})
	t.Run("password_over_72_bytes", func(t *testing.T) {
		// bcrypt reads only 72 bytes: without the length check the real
		// password plus anything would log in
		secWantMsg(t, login(secCreds("longpw", long+"x"), json_), 401, "Bad username or password")
		secWantMsg(t, login(secCreds("longpw", long+strings.Repeat("x", 1000)), json_), 401, "Bad username or password")
		if w := login(secCreds("longpw", long), json_); w.Code != 200 {
			t.Fatalf("control: the 72-byte password itself got %d %q", w.Code, w.Body.String())
		}
	})
	t.Run("body_1MiB", func(t *testing.T) {
		big := `{"username":"alice","password":"` + secPassword + `","pad":"` + strings.Repeat("a", 1<<20) + `"}`
		secWantMsg(t, login(big, json_), 413, "Request body is too large")
		form := "username=alice&password=" + url.QueryEscape(secPassword) + "&pad=" + strings.Repeat("a", 1<<20)
		secWantMsg(t, login(form, "application/x-www-form-urlencoded"), 413, "Request body is too large")
	})
	t.Run("body_at_cap", func(t *testing.T) {
		pre := `{"username":"alice","password":"` + secPassword + `","pad":"`
		body := pre + strings.Repeat("a", maxIssueBody-len(pre)-2) + `"}`
		if len(body) != maxIssueBody {
			t.Fatalf("body is %d bytes", len(body))
		}
		if w := login(body, json_); w.Code != 200 {
			t.Fatalf("a body of exactly %d bytes got %d %q", maxIssueBody, w.Code, w.Body.String())
		}
		secWantMsg(t, login(body+" ", json_), 413, "Request body is too large")
	})
	t.Run("duplicate_username_json", func(t *testing.T) {
		secWantMsg(t, login(`{"username":"mallory","username":"alice","password":"`+secPassword+`"}`, json_), 400, "Request body is not valid JSON")
		secWantMsg(t, login(`{"username":"mallory","Username":"alice","password":"`+secPassword+`"}`, json_), 400, "Request body is not valid JSON")
	})
	t.Run("duplicate_username_form", func(t *testing.T) {
		secWantMsg(t, login("username=mallory&username=alice&password="+url.QueryEscape(secPassword), "application/x-www-form-urlencoded"), 400, `"username" is given more than once`)
	})
	t.Run("non_string_password", func(t *testing.T) {
		secWantMsg(t, login(`{"username":"alice","password":true}`, json_), 400, `"password" must be a string`)
	})
	t.Run("get_is_not_allowed", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/login?username=alice&password="+url.QueryEscape(secPassword), nil)
		secWantMsg(t, secServeIssue(t, h, "192.0.2.1", r), 405, "Method Not Allowed")
	})
}

// reflectHeadersEqual compares two response header sets, ignoring Date.
func reflectHeadersEqual(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb := b[k]
		if len(va) != len(vb) {
			return false
		}
		for i := range va {
			if va[i] != vb[i] {
				return false
			}
		}
	}
	return true
}

// TestSecurityLoginThrottle: failed logins are limited, unknown users count
// like known ones (no existence oracle), and the counters are bounded.
func TestSecurityLoginThrottle(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`"}`)
	h := secIssuer(t, Issue{
		Login: "/login",
		Users: []User{{Name: "alice", Hash: secHash(t, secPassword)}},
		// 3 per user, 10 per IP, 5 minutes
		Throttle: &ThrottleConfig{MaxPerUser: 3, MaxPerIP: 10, Window: caddy.Duration(5 * time.Minute)},
	})
	for _, user := range []string{"alice", "nobody"} {
		t.Run("per_user/"+user, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				secWantMsg(t, secServeIssue(t, h, "198.51.100."+strconv.Itoa(i+1), secLoginReq(secCreds(user, "bad"), "application/json")), 401, "Bad username or password")
			}
			w := secServeIssue(t, h, "198.51.100.99", secLoginReq(secCreds(user, secPassword), "application/json"))
			secWantMsg(t, w, 429, "Too many failed login attempts")
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra <= 0 || ra > 300 {
				t.Fatalf("Retry-After = %q, want 1..300 seconds", w.Header().Get("Retry-After"))
			}
		})
	}
	// that the counters stay bounded is TestThrottleCountersBounded in
	// internal/users
}

// TestSecurityIssuerCookieCSRF: the refresh and logout routes read cookie
// tokens only with the double submit header.
func TestSecurityIssuerCookieCSRF(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`"}`)
	h := secIssuer(t, Issue{
		Login: "/login", Refresh: "/refresh", Logout: "/logout", Deliver: []string{"cookie"},
		Users:    []User{{Name: "alice", Hash: secHash(t, secPassword)}, {Name: "bob", Hash: secHash(t, secPassword)}},
		Throttle: &ThrottleConfig{Disabled: true},
	})
	cookiesOf := func(user string) map[string]string {
		w := secServeIssue(t, h, "192.0.2.1", secLoginReq(secCreds(user, secPassword), "application/json"))
		if w.Code != 200 {
			t.Fatalf("login %s: %d %q", user, w.Code, w.Body.String())
		}
		m := map[string]string{}
		for _, c := range w.Result().Cookies() {
			m[c.Name] = c.Value
		}
		return m
	}
	alice, bob := cookiesOf("alice"), cookiesOf("bob")
	post := func(path, csrf string, jar map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.Header.Set("Cookie", refreshCookieName+"="+jar[refreshCookieName]+"; "+accessCookieName+"="+jar[accessCookieName])
		if csrf != "" {
			r.Header.Set("X-CSRF-TOKEN", csrf)
		}
		return secServeIssue(t, h, "192.0.2.1", r)
	}
	secWantMsg(t, post("/refresh", "", alice), 401, "Missing CSRF token")
	secWantMsg(t, post("/refresh", "wrong", alice), 401, "CSRF double submit tokens do not match")
	secWantMsg(t, post("/refresh", bob[refreshCSRFCookie], alice), 401, "CSRF double submit tokens do not match")
	secWantMsg(t, post("/refresh", alice[accessCSRFCookie], alice), 401, "CSRF double submit tokens do not match")
	secWantMsg(t, post("/logout", "", alice), 401, "Missing CSRF token")
	if w := post("/refresh", alice[refreshCSRFCookie], alice); w.Code != 200 {
		t.Fatalf("control: refresh with the matching CSRF header got %d %q", w.Code, w.Body.String())
	}
}

// ---- asymmetric keys: algorithm confusion, swaps within a family, and
// header-borne keys against configured public keys.

// secKeys are generated once per test binary.
var (
	secKeysOnce sync.Once
	secRSA      *rsa.PrivateKey
	secRSAOther *rsa.PrivateKey
	secP256     *ecdsa.PrivateKey
	secP384     *ecdsa.PrivateKey
	secEd       ed25519.PrivateKey
)

func secGenKeys(t testing.TB) {
	t.Helper()
	secKeysOnce.Do(func() {
		var err error
		if secRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if secRSAOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if secP256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if secP384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if _, secEd, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// secPublicPEM writes pub as a PKIX PEM file and returns its path, the
// PEM bytes and the DER bytes.
func secPublicPEM(t testing.TB, pub any) (string, []byte, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pemBytes, der
}

// secPrivateConfig is a jwt app config with priv (PKCS#8 PEM in a file)
// as the signing key under kid k1 and alg; its public half verifies.
func secPrivateConfig(t testing.TB, alg string, priv any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return `{"algorithm":"` + alg + `","private_key":{"file":` + string(mustJSON(t, path)) + `,"kid":"k1"}}`
}

// secSign signs secClaims(over) with alg and key, with extra header
// members.
func secSign(t testing.TB, alg string, key any, hdr map[string]any, over map[string]any) string {
	t.Helper()
	return signToken(t, alg, key, hdr, secClaims(over))
}

// TestSecurityAlgorithmConfusion: a token whose alg is HMAC, keyed with
// the bytes of a configured public key in PEM or DER form, is refused by
// the algorithm pin (with and without the key's kid); and swapping the
// algorithm within a family (RS256/PS256, ES256/ES384) with the right key
// is refused too.
func TestSecurityAlgorithmConfusion(t *testing.T) {
	secGenKeys(t)
	type family struct {
		name, alg string
		pub       any
		priv      any
		swaps     []string // same key, another alg of the family
	}
	for _, f := range []family{
		{name: "rsa_RS256", alg: "RS256", pub: &secRSA.PublicKey, priv: secRSA, swaps: []string{"PS256", "RS384", "RS512", "PS384"}},
		{name: "rsa_PS256", alg: "PS256", pub: &secRSA.PublicKey, priv: secRSA, swaps: []string{"RS256", "PS384", "PS512"}},
		{name: "ec_ES256", alg: "ES256", pub: &secP256.PublicKey, priv: secP256, swaps: []string{"ES384", "ES512"}},
		{name: "ec_ES384", alg: "ES384", pub: &secP384.PublicKey, priv: secP384, swaps: []string{"ES256", "ES512"}},
		{name: "ed_EdDSA", alg: "EdDSA", pub: secEd.Public(), priv: secEd},
	} {
		t.Run(f.name, func(t *testing.T) {
			_, pemBytes, der := secPublicPEM(t, f.pub)
			secLoad(t, secPrivateConfig(t, f.alg, f.priv))
			cases := []secCase{
				{name: "control/kid", req: secBearer(secSign(t, f.alg, f.priv, map[string]any{"kid": "k1"}, nil)), status: 200, identity: "alice"},
				{name: "control/no_kid", req: secBearer(secSign(t, f.alg, f.priv, nil, nil)), status: 200, identity: "alice"},
			}
			for _, hs := range []string{"HS256", "HS384", "HS512"} {
				for form, secret := range map[string][]byte{"pem": pemBytes, "pem_trimmed": []byte(strings.TrimSpace(string(pemBytes))), "der": der} {
					for _, kid := range []string{"k1", ""} {
						hdr := map[string]any{"kid": kid}
						name := "confusion/" + hs + "_" + form + "_kid"
						if kid == "" {
							hdr, name = nil, "confusion/"+hs+"_"+form+"_no_kid"
						}
						cases = append(cases, secCase{name: name, req: secBearer(secSign(t, hs, secret, hdr, nil)), status: 401, msg: "The specified alg value is not allowed"})
					}
				}
			}
			for _, alg := range f.swaps {
				cases = append(cases, secCase{name: "swap/" + alg, req: secBearer(secSign(t, alg, f.priv, map[string]any{"kid": "k1"}, nil)), status: 401, msg: "The specified alg value is not allowed"})
			}
			for _, none := range []string{"none", "None"} {
				unsigned := b64url([]byte(`{"alg":"`+none+`","kid":"k1"}`)) + "." + b64url(mustJSON(t, secClaims(nil))) + "."
				cases = append(cases, secCase{name: "alg_none/" + none, req: secBearer(unsigned), status: 401, msg: "Not enough segments"})
			}
			secRun(t, cases)
		})
	}
}

// TestSecurityECDSASignatureForms: ES256 signatures must be the raw 64-byte
// r||s form; an ASN.1 DER signature or the r=s=0 "psychic signature"
// (CVE-2022-21449) is refused.
func TestSecurityECDSASignatureForms(t *testing.T) {
	secGenKeys(t)
	secLoad(t, secPrivateConfig(t, "ES256", secP256))
	valid := secSign(t, "ES256", secP256, map[string]any{"kid": "k1"}, nil)
	h, p, _ := secSegments(valid)
	digest := sha256.Sum256([]byte(h + "." + p))
	asn1Sig, err := ecdsa.SignASN1(rand.Reader, secP256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	secRun(t, []secCase{
		{name: "control/raw_r_s", req: secBearer(valid), status: 200, identity: "alice"},
		{name: "asn1_der_signature", req: secBearer(h + "." + p + "." + b64url(asn1Sig)), status: 401, msg: "Signature verification failed"},
		{name: "psychic_zero_signature", req: secBearer(h + "." + p + "." + b64url(make([]byte, 64))), status: 401, msg: "Signature verification failed"},
		{name: "other_curve_key", req: secBearer(secSign(t, "ES256", mustP256(t), map[string]any{"kid": "k1"}, nil)), status: 401, msg: "Signature verification failed"},
	})
}

func mustP256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSecurityHeaderKeysAsymmetric: with a configured RSA key, tokens signed
// by the attacker's own RSA key and offering it in jwk, jku, x5u or x5c
// are refused, the hosts named are never contacted, and the configured
// key's tokens with those headers still pass.
func TestSecurityHeaderKeysAsymmetric(t *testing.T) {
	secGenKeys(t)
	var hits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(200)
	}))
	defer attacker.Close()
	// verify-only: the public key file alone (its algorithm is RS256)
	path, _, _ := secPublicPEM(t, &secRSA.PublicKey)
	secLoad(t, `{"public_keys":[{"file":`+string(mustJSON(t, path))+`,"kid":"k1"}]}`)

	// a self-signed certificate of the attacker's key
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}, NotBefore: secNow.Add(-time.Hour), NotAfter: secNow.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &secRSAOther.PublicKey, secRSAOther)
	if err != nil {
		t.Fatal(err)
	}
	jwk := map[string]any{
		"kty": "RSA", "kid": "k1", "alg": "RS256",
		"n": b64url(secRSAOther.N.Bytes()), "e": b64url(big.NewInt(int64(secRSAOther.E)).Bytes()),
	}
	headers := map[string]map[string]any{
		"jwk":          {"kid": "k1", "jwk": jwk},
		"jwk_no_kid":   {"jwk": jwk},
		"jku":          {"kid": "k1", "jku": attacker.URL + "/jwks"},
		"jku_new_kid":  {"kid": "attacker", "jku": attacker.URL + "/jwks"},
		"x5u":          {"kid": "k1", "x5u": attacker.URL + "/cert"},
		"x5c":          {"kid": "k1", "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}},
		"x5c_no_kid":   {"x5c": []string{base64.StdEncoding.EncodeToString(certDER)}},
		"x5t_and_x5c":  {"kid": "k1", "x5t#S256": b64url([]byte("x")), "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}},
		"jwk_oct_hmac": {"kid": "k1", "jwk": map[string]any{"kty": "oct", "k": b64url([]byte(secOtherSecret))}},
	}
	var cases []secCase
	for name, hdr := range headers {
		want := "Signature verification failed"
		if hdr["kid"] == "attacker" {
			want = "Unknown key id"
		}
		if name == "jwk_oct_hmac" {
			cases = append(cases, secCase{name: name + "/attacker_key", req: secBearer(secSign(t, "HS256", []byte(secOtherSecret), hdr, map[string]any{"sub": "admin"})), status: 401, msg: "The specified alg value is not allowed"})
			continue
		}
		cases = append(cases, secCase{name: name + "/attacker_key", req: secBearer(secSign(t, "RS256", secRSAOther, hdr, map[string]any{"sub": "admin"})), status: 401, msg: want})
		if hdr["kid"] != "attacker" {
			cases = append(cases, secCase{name: name + "/configured_key", req: secBearer(secSign(t, "RS256", secRSA, hdr, nil)), status: 200, identity: "alice"})
		}
	}
	secRun(t, cases)
	if n := hits.Load(); n != 0 {
		t.Fatalf("the host named in a token header got %d requests, want 0", n)
	}
}

// TestSecurityZeroConfigKey: with no key configured the app's generated
// ES256 key verifies; an HMAC token keyed with its published JWK, or an
// alg none token, is refused.
func TestSecurityZeroConfigKey(t *testing.T) {
	a := secLoad(t, `{}`)
	jwks := a.ring.PublicJWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("published set %s: %v", jwks, err)
	}
	kid, _ := set.Keys[0]["kid"].(string)
	oneKey, _ := json.Marshal(set.Keys[0])
	var cases []secCase
	for name, secret := range map[string][]byte{"jwks": jwks, "jwk": oneKey, "x": []byte(set.Keys[0]["x"].(string))} {
		cases = append(cases,
			secCase{name: "confusion/HS256_" + name + "_kid", req: secBearer(secSign(t, "HS256", secret, map[string]any{"kid": kid}, nil)), status: 401, msg: "The specified alg value is not allowed"},
			secCase{name: "confusion/HS256_" + name + "_no_kid", req: secBearer(secSign(t, "HS256", secret, nil, nil)), status: 401, msg: "The specified alg value is not allowed"},
		)
	}
	secRun(t, cases)
}

// TestSecurityJWKSFetchLimits: the remote JWK Set fetch is bounded in size,
// and a token's jku is never fetched. (The fetch's time bound and the
// throttle of early refreshes on unknown kids are shown deterministically
// by internal/keys: TestJWKSClientTimeout, TestJWKSUnknownKIDRefresh.)
func TestSecurityJWKSFetchLimits(t *testing.T) {
	secGenKeys(t)
	var jku atomic.Int64
	var oversized atomic.Bool
	set, err := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "remote", "alg": "RS256", "use": "sig",
		"n": b64url(secRSA.N.Bytes()), "e": b64url(big.NewInt(int64(secRSA.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/evil" {
			jku.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		if oversized.Load() {
			// a valid set followed by 1 MiB of white space
			_, _ = w.Write(append(append([]byte{}, set...), []byte(strings.Repeat(" ", keys.MaxJWKSBytes))...))
			return
		}
		_, _ = w.Write(set)
	}))
	defer idp.Close()
	// the first fetch (at start, in the background) gets an oversized set
	oversized.Store(true)
	a := secLoad(t, `{"jwks_urls":[`+string(mustJSON(t, idp.URL))+`],"jwks_refresh":"1h"}`)
	// cf. Envoy CVE-2025-64527: with no usable remote set the request is
	// refused as an unknown key, never answered 5xx or crashed
	h0 := secHandler(t, Auth{})
	if res := secServe(t, h0, secBearer(secSign(t, "RS256", secRSA, map[string]any{"kid": "remote"}, nil))); res.status != 401 || res.msg != "Unknown key id" {
		t.Fatalf("token of a not yet fetched key: %d %q, want 401 Unknown key id", res.status, res.msg)
	}
	if err := a.ring.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("fetching a set over %d bytes: %v, want a size error", keys.MaxJWKSBytes, err)
	}
	oversized.Store(false)
	if err := a.ring.Refresh(context.Background()); err != nil {
		t.Fatalf("control: fetching the set: %v", err)
	}
	h := secHandler(t, Auth{})
	if res := secServe(t, h, secBearer(secSign(t, "RS256", secRSA, map[string]any{"kid": "remote"}, nil))); res.status != 200 {
		t.Fatalf("control: token of the remote key: %d %q", res.status, res.msg)
	}
	// many unknown kids naming a jku: refused, and the jku is never asked
	for i := 0; i < 50; i++ {
		res := secServe(t, h, secBearer(secSign(t, "RS256", secRSAOther, map[string]any{"kid": "unknown-" + strconv.Itoa(i), "jku": idp.URL + "/evil"}, nil)))
		if res.status != 401 || res.msg != "Unknown key id" {
			t.Fatalf("unknown kid: %d %q", res.status, res.msg)
		}
	}
	if err := a.ring.Refresh(context.Background()); err != nil {
		t.Fatalf("refreshing the configured set: %v", err)
	}
	if n := jku.Load(); n != 0 {
		t.Fatalf("the token's jku was fetched %d times", n)
	}
}

// ---- the CVEs of comparable gateways named in issue 6 (see SECURITY.md).

// TestSecurityLogoutRevokes (cf. caddy-security CVE-2024-21492, sessions
// valid after sign-out): after logout the access token, already verified
// and cached, and the refresh token are refused.
func TestSecurityLogoutRevokes(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`"}`)
	iss := secIssuer(t, Issue{
		Login: "/login", Refresh: "/refresh", Logout: "/logout",
		Users:    []User{{Name: "alice", Hash: secHash(t, secPassword)}},
		Throttle: &ThrottleConfig{Disabled: true},
	})
	w := secServeIssue(t, iss, "192.0.2.1", secLoginReq(secCreds("alice", secPassword), "application/json"))
	if w.Code != 200 {
		t.Fatalf("login: %d %q", w.Code, w.Body.String())
	}
	var toks struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &toks); err != nil || toks.Access == "" || toks.Refresh == "" {
		t.Fatalf("login body %q: %v", w.Body.String(), err)
	}
	auth := secHandler(t, Auth{})
	if res := secServe(t, auth, secBearer(toks.Access)); res.status != 200 || res.upstream.Get(hdrIdentity) != "alice" {
		t.Fatalf("control: access token before logout: %d %q", res.status, res.msg)
	}
	r := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader(`{"refresh_token":"`+toks.Refresh+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+toks.Access)
	secWantMsg(t, secServeIssue(t, iss, "192.0.2.1", r), 200, "Logged out")

	if res := secServe(t, auth, secBearer(toks.Access)); res.status != 401 || res.msg != "Token has been revoked" {
		t.Fatalf("access token after logout: %d %q, want 401 Token has been revoked", res.status, res.msg)
	}
	rr := httptest.NewRequest(http.MethodPost, "/refresh", nil)
	rr.Header.Set("Authorization", "Bearer "+toks.Refresh)
	secWantMsg(t, secServeIssue(t, iss, "192.0.2.1", rr), 401, "Token has been revoked")
}

// TestSecurityThrottleIgnoresForwardedFor (cf. caddy-security
// CVE-2024-21494, IP spoofing through X-Forwarded-For): through a real
// Caddy without trusted_proxies, a client that varies X-Forwarded-For
// still spends one per-IP budget.
func TestSecurityThrottleIgnoresForwardedFor(t *testing.T) {
	hash := secHash(t, secPassword)
	addr := secStartCaddyfile(t, `{
	admin off
	persist_config off
	auto_https off
	storage file_system %STORAGE%
	jwt {
		secret `+secSecret+`
	}
}
http://127.0.0.1:%PORT% {
	bind 127.0.0.1
	jwt_issue {
		login /login
		user alice `+hash+`
		throttle 100 3 15m
	}
	respond "next" 404
}
`)
	login := func(user, pw, xff string) (*http.Response, string) {
		body := secCreds(user, pw)
		return secRawRequest(t, addr, "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
			"X-Forwarded-For: "+xff+"\r\nX-Real-Ip: "+xff+"\r\nForwarded: for="+xff+"\r\n"+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	}
	for i := 0; i < 3; i++ {
		resp, body := login("user"+strconv.Itoa(i), "wrong", "203.0.113."+strconv.Itoa(i+1))
		if resp.StatusCode != 401 || !strings.Contains(body, "Bad username or password") {
			t.Fatalf("failed login %d: %d %q", i, resp.StatusCode, body)
		}
	}
	resp, body := login("alice", secPassword, "198.51.100.77")
	if resp.StatusCode != 429 || !strings.Contains(body, "Too many failed login attempts") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th login from the same connection IP with a new X-Forwarded-For: %d %q (Retry-After %q), want 429", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

// TestSecurityManyDots (cf. golang-jwt CVE-2025-30204, allocation per
// '.' while splitting): a token of dots costs no allocation per dot, and
// an oversized one is refused before it is looked at.
func TestSecurityManyDots(t *testing.T) {
	a := secLoad(t, `{"secret":"`+secSecret+`","cache_size":0}`)
	for _, v := range []struct {
		name string
		raw  string
		want *authError
	}{
		{"dots_at_cap", strings.Repeat(".", jws.MaxTokenSize), errMalformed},
		{"dots_1MiB", strings.Repeat(".", 1<<20), errTooLarge},
		{"segments_at_cap", strings.Repeat("e30.", jws.MaxTokenSize/4), errMalformed},
	} {
		t.Run(v.name, func(t *testing.T) {
			var got *authError
			allocs := testing.AllocsPerRun(20, func() { _, got = a.verify(v.raw) })
			if got != v.want {
				t.Fatalf("got %v, want %v", got, v.want)
			}
			if allocs > 2 {
				t.Fatalf("%.0f allocations for a %d-byte token of dots", allocs, len(v.raw))
			}
		})
	}
}

// TestSecurityNoTokenInLogs: a refused request's debug log line never
// carries the token, even when it came in the query string.
func TestSecurityNoTokenInLogs(t *testing.T) {
	secLoad(t, `{"secret":"`+secSecret+`","token_from":["query"]}`)
	core, logs := observer.New(zapcore.DebugLevel)
	h := secHandler(t, Auth{})
	h.logger = zap.New(core)
	expired := secToken(t, map[string]any{"exp": secNow.Unix() - 1})
	sig := expired[strings.LastIndexByte(expired, '.')+1:]
	res := secServe(t, h, secRequest("GET", "/api?jwt="+expired+"&x=1"))
	if res.status != 401 || res.msg != "Token has expired" {
		t.Fatalf("got %d %q", res.status, res.msg)
	}
	if logs.Len() == 0 {
		t.Fatal("no debug line for the refusal")
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s := fmt.Sprint(v); strings.Contains(s, sig) {
				t.Errorf("log field %s carries the token: %q", k, s)
			}
		}
	}
}

// TestSecurityRevocationBounded: the App's store is the storage store,
// which keeps a fixed 32 bytes per revoked id however long the id, and
// drops them once their tokens have expired, so logging out in a loop
// cannot grow memory without bound. The memory bound itself is asserted in
// internal/revocation (TestBounded), where the store's clock can be moved.
func TestSecurityRevocationBounded(t *testing.T) {
	a := secLoad(t, `{"secret":"`+secSecret+`"}`)
	r, ok := a.revoked.(*storageRevocations)
	if !ok {
		t.Fatalf("revocation store is %T", a.revoked)
	}
	long := strings.Repeat("j", 4096)
	for i := 0; i < 300; i++ {
		if err := r.revoke(context.Background(), long+strconv.Itoa(i), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if !r.isRevoked(long + "7") {
		t.Fatal("control: a revoked id is not refused")
	}
}
