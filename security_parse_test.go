package jwtextended

// Token parsing attacks: alg, kid and crit headers, signatures, base64url
// spellings, segments, duplicate names, payload shape, size and dots.

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
)

// secPayloadWithURLChars returns claims whose base64url payload holds both
// '-' and '_', so that a standard-alphabet spelling differs from it.
func secPayloadWithURLChars(t testing.TB) string {
	t.Helper()
	for i := 0; i < 10000; i++ {
		p := testkit.B64URL(testkit.MustJSON(t, secClaims(map[string]any{"pad": strings.Repeat("~?>", i%5) + strconv.Itoa(i*7919)})))
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

// TestSecurityAttacks covers the parsing attacks on a token that need only
// the HMAC configuration of the app: alg, kid and crit headers, signatures,
// base64url spellings, segments, duplicate names and the payload's shape.
// The claim checks are TestSecurityClaimAttacks, the Authorization header
// TestSecurityAuthorizationHeader.
func TestSecurityAttacks(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	valid := fx.token(secClaims(nil))
	now := secNow.Unix()
	claimsJSON := string(testkit.MustJSON(t, secClaims(nil)))
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
		unsigned := testkit.B64URL([]byte(hdr)) + "." + testkit.B64URL([]byte(claimsJSON)) + "."
		add(refuse("alg_none/"+alg+"/no_signature", unsigned, "Not enough segments"))
		add(refuse("alg_none/"+alg+"/no_signature_no_dot", strings.TrimSuffix(unsigned, "."), "Not enough segments"))
		add(refuse("alg_none/"+alg+"/hmac_signature", fx.raw(hdr, claimsJSON), "The specified alg value is not allowed"))
		add(refuse("alg_none/"+alg+"/garbage_signature", unsigned+"c2lnbmF0dXJl", "The specified alg value is not allowed"))
	}
	add(refuse("alg_missing", fx.raw(`{"typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("alg_empty", fx.raw(`{"alg":"","typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("alg_lowercase_hs256", fx.raw(`{"alg":"hs256","typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("alg_not_a_string", fx.raw(`{"alg":["HS256"],"typ":"JWT"}`, claimsJSON), "Invalid header"))

	// The algorithm swapped within the HMAC family: an HMAC of the real
	// secret with another hash.
	add(refuse("alg_family/HS384_header_hs256_key", fx.signed("HS384", fx.key, secClaims(nil)), "The specified alg value is not allowed"))
	add(refuse("alg_family/HS512_header_hs256_key", fx.signed("HS512", fx.key, secClaims(nil)), "The specified alg value is not allowed"))
	add(refuse("alg_family/HS384_header_hs256_signature", fx.rawSegments(testkit.B64URL([]byte(`{"alg":"HS384","typ":"JWT"}`)), p), "The specified alg value is not allowed"))

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
		add(refuse("kid/"+k.name, fx.signed("HS256", fx.key, secClaims(nil), map[string]any{"kid": k.kid}), "Unknown key id"))
	}
	add(refuse("kid/null", fx.raw(`{"alg":"HS256","kid":null}`, claimsJSON), "Unknown key id"))
	add(refuse("kid/long_1KiB", fx.signed("HS256", fx.key, secClaims(nil), map[string]any{"kid": strings.Repeat("k", 1024)}), "Invalid key id"))
	add(refuse("kid/long_10KiB", fx.signed("HS256", fx.key, secClaims(nil), map[string]any{"kid": strings.Repeat("k", 10<<10)}), "Token is too large"))
	add(refuse("kid/number", fx.raw(`{"alg":"HS256","kid":1}`, claimsJSON), "Invalid key id"))
	add(refuse("kid/object", fx.raw(`{"alg":"HS256","kid":{"file":"/etc/passwd"}}`, claimsJSON), "Invalid key id"))
	add(refuse("kid/array", fx.raw(`{"alg":"HS256","kid":["a"]}`, claimsJSON), "Invalid key id"))
	add(refuse("kid/bool", fx.raw(`{"alg":"HS256","kid":true}`, claimsJSON), "Invalid key id"))

	// crit: no extension is understood, so any crit refuses.
	add(refuse("crit/exp", fx.raw(`{"alg":"HS256","crit":["exp"],"exp":1}`, claimsJSON), "Unsupported critical header"))
	add(refuse("crit/b64", fx.raw(`{"alg":"HS256","crit":["b64"],"b64":false}`, claimsJSON), "Unsupported critical header"))
	add(refuse("crit/empty", fx.raw(`{"alg":"HS256","crit":[]}`, claimsJSON), "Unsupported critical header"))
	add(refuse("crit/null", fx.raw(`{"alg":"HS256","crit":null}`, claimsJSON), "Unsupported critical header"))

	// Signatures: stripped, truncated, extended, flipped, forged.
	sig, _ := base64.RawURLEncoding.DecodeString(s)
	add(refuse("signature/stripped", h+"."+p+".", "Not enough segments"))
	add(refuse("signature/stripped_no_dot", h+"."+p, "Not enough segments"))
	add(refuse("signature/truncated_one_byte", h+"."+p+"."+testkit.B64URL(sig[:len(sig)-1]), "Signature verification failed"))
	add(refuse("signature/truncated_half", h+"."+p+"."+testkit.B64URL(sig[:len(sig)/2]), "Signature verification failed"))
	// 42 characters leave non-zero trailing bits: not canonical
	add(refuse("signature/truncated_one_char", h+"."+p+"."+s[:len(s)-1], "Invalid token encoding"))
	add(refuse("signature/extended_one_byte", h+"."+p+"."+testkit.B64URL(append(append([]byte{}, sig...), 0)), "Signature verification failed"))
	add(refuse("signature/extended_doubled", h+"."+p+"."+testkit.B64URL(append(append([]byte{}, sig...), sig...)), "Signature verification failed"))
	flipped := append([]byte{}, sig...)
	flipped[0] ^= 1
	add(refuse("signature/bit_flipped", h+"."+p+"."+testkit.B64URL(flipped), "Signature verification failed"))
	add(refuse("signature/other_secret", fx.signed("HS256", []byte(secOtherSecret), secClaims(nil)), "Signature verification failed"))
	add(refuse("signature/empty_key", fx.signed("HS256", []byte{}, secClaims(nil)), "Signature verification failed"))
	add(refuse("signature/payload_swapped", h+"."+testkit.B64URL(testkit.MustJSON(t, secClaims(map[string]any{"sub": "admin"})))+"."+s, "Signature verification failed"))

	// base64url: one spelling per token. Each variant is signed over its
	// own spelling, so only the strict decoder refuses it.
	padded := func(js string) string {
		for !strings.HasSuffix(base64.URLEncoding.EncodeToString([]byte(js)), "=") {
			js += " "
		}
		return base64.URLEncoding.EncodeToString([]byte(js))
	}
	add(refuse("base64/padded_header", fx.rawSegments(padded(secHeaderHS256), p), "Invalid token encoding"))
	add(refuse("base64/padded_payload", fx.rawSegments(h, padded(claimsJSON)), "Invalid token encoding"))
	add(secCase{name: "control/unpadded_spelling_of_padded_payload", req: secBearer(fx.rawSegments(h, strings.TrimRight(padded(claimsJSON), "="))), status: 200, identity: "alice"})
	add(refuse("base64/padded_signature", h+"."+p+"."+s+"=", "Invalid token encoding"))
	pu := secPayloadWithURLChars(t)
	add(secCase{name: "control/payload_with_url_alphabet", req: secBearer(fx.rawSegments(h, pu)), status: 200, identity: "alice"})
	add(refuse("base64/standard_alphabet_payload", fx.rawSegments(h, secB64Std(pu)), "Invalid token encoding"))
	stdSig := s
	for i := 0; !strings.ContainsAny(stdSig, "-_"); i++ {
		// find a signature that has URL-alphabet characters
		tok := fx.token(secClaims(map[string]any{"n": i}))
		h2, p2, s2 := secSegments(tok)
		h, p, stdSig = h2, p2, s2
	}
	add(refuse("base64/standard_alphabet_signature", h+"."+p+"."+secB64Std(stdSig), "Invalid token encoding"))
	h, p, s = secSegments(valid)
	add(refuse("base64/non_canonical_signature_bits", h+"."+p+"."+secFlipLastBits(t, s), "Invalid token encoding"))
	np := testkit.B64URL([]byte(claimsJSON))
	if len(np)%4 != 0 {
		add(refuse("base64/non_canonical_payload_bits", fx.rawSegments(h, secFlipLastBits(t, np)), "Invalid token encoding"))
	}
	// whitespace splits the header value, as flask-jwt-extended splits it
	add(refuse("base64/whitespace_in_signature", h+"."+p+"."+s[:10]+"\t"+s[10:], "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'"))

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
		add(refuse("duplicate_claims/"+name, fx.raw(secHeaderHS256, payload), "Duplicate claim names are not allowed"))
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
	add(refuse("duplicate_header/kid_kelvin_sign", fx.raw(`{"alg":"HS256","kid":"a","\u212aid":"b"}`, claimsJSON), "Invalid header"))
	add(refuse("payload/invalid_utf8", fx.raw(secHeaderHS256, "{\"sub\":\"alice\xff\",\"exp\":"+exp+"}"), "Invalid payload"))
	// header parameter names are case-sensitive: "Alg" is not alg
	add(refuse("header_names/Alg", fx.raw(`{"Alg":"HS256"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("header_names/ALG", fx.raw(`{"ALG":"HS256","typ":"JWT"}`, claimsJSON), "The specified alg value is not allowed"))
	add(refuse("header_names/Kid_is_not_kid_alg_missing", fx.raw(`{"Alg":"HS256","Kid":"k"}`, claimsJSON), "The specified alg value is not allowed"))
	add(secCase{name: "control/header_unknown_Kid_ignored", req: secBearer(fx.raw(`{"alg":"HS256","Kid":"k"}`, claimsJSON)), status: 200, identity: "alice"})
	add(refuse("duplicate_header/alg_twice", fx.raw(`{"alg":"none","alg":"HS256"}`, claimsJSON), "Invalid header"))
	add(refuse("duplicate_header/alg_case_variant", fx.raw(`{"alg":"HS256","ALG":"none"}`, claimsJSON), "Invalid header"))
	add(refuse("duplicate_header/kid_case_variant", fx.raw(`{"alg":"HS256","kid":"a","KID":"b"}`, claimsJSON), "Invalid header"))
	add(refuse("duplicate_header/kid_escaped", fx.raw(`{"alg":"HS256","kid":"a","\u006bid":"b"}`, claimsJSON), "Invalid header"))
	add(refuse("payload/trailing_data", fx.raw(secHeaderHS256, claimsJSON+`{"sub":"admin"}`), "Invalid payload"))
	add(refuse("payload/not_an_object", fx.raw(secHeaderHS256, `["sub","admin"]`), "Invalid payload"))
	add(refuse("payload/null", fx.raw(secHeaderHS256, `null`), "Invalid payload"))
	add(refuse("payload/deeply_nested", fx.raw(secHeaderHS256, `{"sub":"alice","exp":`+exp+`,"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`), "Invalid payload"))
	add(refuse("header/not_json", fx.rawSegments(testkit.B64URL([]byte("HS256")), p), "Invalid header"))

	secRun(t, fx, cases)
}

// TestSecurityBase64Newlines: Go's base64 decoders skip CR and LF even in
// strict mode, so a signature segment with a newline inserted decoded to
// the very same signature and was accepted: a second spelling of a valid
// token (a query value can carry %0A), and a way to plant unbounded
// distinct cache entries from one token. The token alphabet is now
// checked before decoding.
func TestSecurityBase64Newlines(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","token_from":["query"]}`)), withUpstream(http.StatusOK, "upstream"))
	valid := fx.token(secClaims(nil))
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
	secRun(t, fx, cases)
}

// secTokenOfSize returns a valid token of exactly one of the sizes given
// (padding a claim; base64 skips some lengths), or fails.
func secTokenOfSize(fx *fixture, sizes ...int) string {
	fx.t.Helper()
	for _, n := range sizes {
		for pad := n/2 + n/8; pad < n; pad++ {
			tok := fx.token(secClaims(map[string]any{"pad": strings.Repeat("p", pad)}))
			if len(tok) == n {
				return tok
			}
			if len(tok) > n {
				break
			}
		}
	}
	fx.t.Fatalf("no token of any of the sizes %v", sizes)
	return ""
}

// TestSecurityTokenSizeCap: the cap applies in the header, the cookie and
// the query, and a token at the cap is still accepted.
func TestSecurityTokenSizeCap(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","token_from":["header","cookie","query"]}`)), withUpstream(http.StatusOK, "upstream"))
	atCap := secTokenOfSize(fx, jws.MaxTokenSize)
	over := secTokenOfSize(fx, jws.MaxTokenSize+1, jws.MaxTokenSize+2, jws.MaxTokenSize+3)
	huge := fx.token(secClaims(map[string]any{"pad": strings.Repeat("p", 1<<20)}))
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
	secRun(t, fx, cases)
}

// TestSecurityManyDots (cf. golang-jwt CVE-2025-30204, allocation per
// '.' while splitting): a token of dots costs no allocation per dot, and
// an oversized one is refused before it is looked at.
func TestSecurityManyDots(t *testing.T) {
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","cache_size":0}`)), withUpstream(http.StatusOK, "upstream"))
	a := fx.app
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
			allocs := testing.AllocsPerRun(20, func() { _, got = verifyRaw(a, v.raw) })
			if got != v.want {
				t.Fatalf("got %v, want %v", got, v.want)
			}
			if allocs > 2 {
				t.Fatalf("%.0f allocations for a %d-byte token of dots", allocs, len(v.raw))
			}
		})
	}
}
