package jwtextended

// Fuzz targets. CI runs each for a short, bounded time, one target per
// invocation (-fuzz must match exactly one):
//
//	go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime=15s .
//	go test -run '^$' -fuzz '^FuzzClaims$' -fuzztime=15s .
//	go test -run '^$' -fuzz '^FuzzCaddyfile$' -fuzztime=15s .
//	go test -run '^$' -fuzz '^FuzzLoginBody$' -fuzztime=15s .
//
// Run them longer locally with e.g. -fuzztime=30m; a failing input is
// written to testdata/fuzz/<Target>/ and replayed by every plain `go test`
// from then on. The seed corpus is the attack lists of the security_*_test.go files
// (added in code with f.Add), the compact JWS of the Wycheproof vectors in
// internal/keys/testdata, and the files under testdata/fuzz/.
//
// Every property is checked independently of the code under test: a token
// the module accepts must carry an HMAC-SHA256 of the configured secret
// over its exact signing input (computed here with crypto/hmac), and
// claims it accepts must decode with encoding/json to what the module
// published.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"golang.org/x/net/http/httpguts"
)

// fuzzSeedTokens are valid tokens and the attack tokens of the security_*_test.go files,
// all at secNow.
func fuzzSeedTokens(fx *fixture) []string {
	t := fx.t
	claimsJSON := string(testkit.MustJSON(t, secClaims(nil)))
	valid := fx.token(secClaims(nil))
	h, p, s := secSegments(valid)
	seeds := []string{
		valid,
		fx.token(secClaims(map[string]any{"fresh": false, "type": "refresh"})),
		fx.token(secClaims(map[string]any{"aud": []string{"a", "b"}, "iss": "x", "csrf": "c", "role": []any{"admin", 1, true, nil, map[string]any{"k": 1.5}}})),
		fx.token(secClaims(map[string]any{"sub": 12345, "fresh": secNow.Unix() + 60})),
		fx.raw(secHeaderHS256, `{"sub":"alice","exp":`+strconv.FormatInt(secNow.Unix()+60, 10)+`,"n":{"a":[1,2,{"b":"\u00e9\ud83d\ude00"}]}}`),
		h + "." + p + ".",
		h + "." + p,
		valid + "." + s,
		testkit.B64URL([]byte(`{"alg":"none"}`)) + "." + p + ".",
		fx.signed("HS384", fx.key, secClaims(nil)),
		fx.signed("HS256", fx.key, secClaims(nil), map[string]any{"kid": "../../etc/passwd"}),
		fx.signed("HS256", fx.key, secClaims(nil), map[string]any{"jku": "http://127.0.0.1:1/", "jwk": map[string]any{"kty": "oct", "k": "AAAA"}}),
		fx.raw(`{"alg":"HS256","crit":["exp"]}`, claimsJSON),
		fx.raw(secHeaderHS256, `{"sub":"alice","sub":"admin","exp":9999999999}`),
		fx.raw(secHeaderHS256, `{"sub":"alice","typ\u0065":"refresh","type":"access","exp":9999999999}`),
		fx.raw(secHeaderHS256, `{"sub":"alice\r\nX-Jwt-Identity: admin","exp":9999999999}`),
		fx.raw(secHeaderHS256, `{"sub":"alice\u0000","exp":9999999999}`),
		fx.token(secClaims(map[string]any{"exp": "9999999999"})),
		fx.token(secClaims(map[string]any{"nbf": secNow.Unix() + 60})),
		fx.rawSegments(base64.URLEncoding.EncodeToString([]byte(secHeaderHS256+" ")), p),
		h + "." + p + "." + secB64Std(s),
	}
	return seeds
}

// fuzzWycheproofJWS returns compact JWS strings of the Wycheproof vectors
// in internal/keys/testdata (flattened JSON serializations are skipped): edge
// cases of every algorithm, signed with keys this app does not trust, so
// each must be refused.
func fuzzWycheproofJWS(t testing.TB) []string {
	b, err := os.ReadFile(filepath.Join("internal", "keys", "testdata", "json_web_signature_test.json"))
	if err != nil {
		t.Fatalf("reading the Wycheproof vectors: %v", err)
	}
	var file struct {
		TestGroups []struct {
			Tests []struct {
				JWS any `json:"jws"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	// A few per group: the fuzzer's baseline pass costs about 30 ms per
	// seed here (the whole of Caddy is instrumented), and the groups'
	// tests differ mostly in their signatures, which FuzzVerify's
	// mutations reach anyway.
	const perGroup = 4
	var out []string
	for _, g := range file.TestGroups {
		n := 0
		for _, tc := range g.Tests {
			if s, ok := tc.JWS.(string); ok && n < perGroup {
				out = append(out, s)
				n++
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no compact JWS in the Wycheproof vectors")
	}
	return out
}

// fuzzIndependentAccept checks, without the module's code, that raw is a
// compact JWS with header alg HS256 whose signature is the HMAC-SHA256 of
// secret over its signing input, spelled in canonical base64url, and
// returns its claims decoded by encoding/json.
func fuzzIndependentAccept(t *testing.T, raw string) map[string]any {
	t.Helper()
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			t.Fatalf("accepted a token with byte %q at %d", c, i)
		}
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a token of %d segments", len(parts))
	}
	dec := func(seg string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatalf("accepted a segment that is not base64url: %q", seg)
		}
		if base64.RawURLEncoding.EncodeToString(b) != seg {
			t.Fatalf("accepted a non-canonical segment %q", seg)
		}
		return b
	}
	hdr, payload, sig := dec(parts[0]), dec(parts[1]), dec(parts[2])
	m := hmac.New(sha256.New, []byte(secSecret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		t.Fatalf("accepted a token not signed by the configured key: %q", raw)
	}
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil {
		t.Fatalf("accepted a header that is not a JSON object: %q", hdr)
	}
	if h["alg"] != "HS256" {
		t.Fatalf("accepted alg %v", h["alg"])
	}
	for k := range h {
		if strings.EqualFold(k, "crit") {
			t.Fatalf("accepted a crit header: %q", hdr)
		}
	}
	var claims map[string]any
	d := json.NewDecoder(strings.NewReader(string(payload)))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil || claims == nil {
		t.Fatalf("accepted a payload that is not a JSON object: %q", payload)
	}
	return claims
}

// fuzzCheckClaims checks what the module made of accepted claims against
// the independent decoding.
func fuzzCheckClaims(t *testing.T, a *App, tok *token.Verified, claims map[string]any) {
	t.Helper()
	n, ok := claims["exp"].(json.Number)
	if !ok {
		t.Fatalf("accepted exp %v (%T)", claims["exp"], claims["exp"])
	}
	exp, err := n.Float64()
	if err != nil || math.IsInf(exp, 0) || float64(a.now().Unix()) >= exp {
		t.Fatalf("accepted exp %v at %v", n, a.now().Unix())
	}
	for _, k := range []string{"nbf", "iat"} {
		if v, ok := claims[k]; ok {
			n, ok := v.(json.Number)
			if !ok {
				t.Fatalf("accepted %s %v", k, v)
			}
			f, err := n.Float64()
			if err != nil || f > float64(a.now().Unix()) {
				t.Fatalf("accepted %s %v at %v", k, n, a.now().Unix())
			}
		}
	}
	switch v := claims["sub"].(type) {
	case string:
		if tok.Identity != v {
			t.Fatalf("identity %q, claims say %q", tok.Identity, v)
		}
	case json.Number:
		if tok.Identity != v.String() {
			t.Fatalf("identity %q, claims say %v", tok.Identity, v)
		}
	default:
		t.Fatalf("accepted sub %v (%T)", v, v)
	}
	switch v := claims["type"].(type) {
	case nil:
		if _, present := claims["type"]; present || tok.Type != token.TypeAccess {
			t.Fatalf("type %v read as %q", v, tok.Type)
		}
	case string:
		if v != tok.Type || (v != token.TypeAccess && v != token.TypeRefresh) {
			t.Fatalf("type %q read as %q", v, tok.Type)
		}
	default:
		t.Fatalf("accepted type %v", v)
	}
	if fresh, isBool := claims["fresh"].(bool); tok.IsFresh(a.now()) && !(isBool && fresh) {
		n, ok := claims["fresh"].(json.Number)
		f, err := n.Float64()
		if !ok || err != nil || f < float64(a.now().Unix()) {
			t.Fatalf("fresh %v read as fresh", claims["fresh"])
		}
	}
	// No two member names that encoding/json (struct fields) or a
	// lower-casing reader would merge, at any depth.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			names := make([]string, 0, len(x))
			for k, e := range x {
				names = append(names, k)
				walk(e)
			}
			for i := range names {
				for j := i + 1; j < len(names); j++ {
					if strings.EqualFold(names[i], names[j]) || strings.ToLower(names[i]) == strings.ToLower(names[j]) {
						t.Fatalf("accepted claims with names %q and %q", names[i], names[j])
					}
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			for _, r := range x {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("accepted a control character in %q", x)
				}
			}
		}
	}
	walk(claims)
	// What the upstream gets must be a valid header value.
	r := &http.Request{Header: http.Header{}}
	publish(r, nil, tok, tok.IsFresh(a.now()))
	for name, vals := range r.Header {
		for _, v := range vals {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("published %s: %q, not a valid header value", name, v)
			}
		}
	}
}

// FuzzVerify mutates whole tokens: the module must never panic, and never
// accept a token that is not signed by the configured key.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	a := fx.app
	for _, s := range fuzzSeedTokens(fx) {
		f.Add(s)
	}
	for _, s := range fuzzWycheproofJWS(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, e := verifyRaw(a, raw)
		if e != nil {
			if e.status != http.StatusUnauthorized || e.msg == "" {
				t.Fatalf("refusal %d %q", e.status, e.msg)
			}
			return
		}
		claims := fuzzIndependentAccept(t, raw)
		fuzzCheckClaims(t, a, tok, claims)
		// verified again (from the cache now), it is the same token
		again, e := verifyRaw(a, raw)
		if e != nil || again.Identity != tok.Identity {
			t.Fatalf("second verification differs: %v", e)
		}
	})
}

// FuzzClaims lets the fuzzer write the header and payload JSON, and signs
// them with the configured key: this reaches the claim checks behind the
// signature, which FuzzVerify's mutations rarely pass.
func FuzzClaims(f *testing.F) {
	fx := newFixture(f, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	a := fx.app
	for _, s := range fuzzSeedTokens(fx) {
		parts := strings.Split(s, ".")
		if len(parts) < 2 {
			continue
		}
		h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
		p, err2 := base64.RawURLEncoding.DecodeString(parts[1])
		if err1 == nil && err2 == nil {
			f.Add(string(h), string(p))
		}
	}
	f.Add(secHeaderHS256, `{"sub":"alice","exp":1800000900,"x":"\ud800"}`)
	f.Add(secHeaderHS256, `{"sub":"alice","exp":1800000900,"x":1e400}`)
	f.Add(secHeaderHS256, "{\"sub\":\"alice\",\"exp\":1800000900,\"x\":\"\xff\"}")
	f.Add(secHeaderHS256, `{"sub":"alice","exp":1800000900.5,"nbf":-1e-7,"iat":0}`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		raw := fx.rawSegments(testkit.B64URL([]byte(header)), testkit.B64URL([]byte(payload)))
		tok, e := verifyRaw(a, raw)
		if e != nil {
			if e.status != http.StatusUnauthorized || e.msg == "" {
				t.Fatalf("refusal %d %q", e.status, e.msg)
			}
			return
		}
		if !utf8.ValidString(payload) {
			t.Fatalf("accepted a payload that is not valid UTF-8: %q", payload)
		}
		claims := fuzzIndependentAccept(t, raw)
		fuzzCheckClaims(t, a, tok, claims)
	})
}

// FuzzCaddyfile feeds Caddyfile text to the jwt global option and the
// jwt_auth and jwt_issue directives: they must never panic, and what they
// accept must survive a JSON round trip.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"jwt {\n\tsecret {env.JWT_SECRET}\n\talgorithm HS512\n\tissuer https://auth.example\n\taudience api admin\n\tleeway 30s\n\taccess_ttl 15m\n\trefresh_ttl 30d\n\tfresh_for 5m\n\tidentity_claim uid\n\ttoken_from header cookie query\n\tcache_size 0\n}",
		"jwt {\n\tprivate_key /etc/jwt/key.pem k1\n\tpublic_key /etc/jwt/old.pem k0\n\tpublic_key {file./run/pub.pem}\n\tjwks_url https://idp.example/.well-known/jwks.json\n\tjwks_refresh 1h\n\trevocation_sync 5s\n}",
		"jwt {\n\tsecret\n}", "jwt {\n\tleeway -5s\n}", "jwt {\n\tcache_size -1\n}", "jwt {\n\ttoken_from header header\n}", "jwt {\n\tbogus 1\n}", "jwt extra", "jwt {\n\tprivate_key a b c\n}",
		"jwt_auth",
		"jwt_auth fresh_required optional",
		"jwt_auth {\n\tfresh_required\n\toptional\n\ttoken_type refresh\n\trequire role admin editor\n\trequire groups ops\n\ttoken_from cookie query\n\tverify_preflight\n\thandle_errors\n}",
		"jwt_auth {\n\ttoken_type bearer\n}", "jwt_auth {\n\trequire role\n}", "jwt_auth bogus", "jwt_auth {\n\tfresh_required yes\n}",
		"jwt_issue {\n\tlogin /auth/login\n\trefresh /auth/refresh\n\treauth /auth/reauth\n\tlogout /auth/logout\n\tjwks /.well-known/jwks.json\n\tuser alice $2a$10$abcdefghijklmnopqrstuv role=admin team=ops\n\tusers_file /etc/users\n\tdeliver json cookie\n\ttoken_from cookie\n}",
		"jwt {\n\tleeway {env.LEEWAY}\n\taccess_ttl {env.TTL}m\n\tcache_size {env.CACHE}\n\trevocation_sync {env.SYNC}\n}",
		"jwt_issue {\n\tthrottle 5 {env.PER_IP} 15m {\n\t\tcapacity 100\n\t\twindow {env.W}\n\t}\n}",
		"jwt_issue {\n\tthrottle off\n}", "jwt_issue {\n\tthrottle off {\n\t}\n}", "jwt_issue {\n\tthrottle {\n\t\tbogus 1\n\t}\n}",
		"jwt_issue {\n\tuser alice\n}", "jwt_issue {\n\tuser alice hash =x\n}", "jwt_issue {\n\tdeliver xml\n}", "jwt_issue x",
		"jwt {\n\tsecret \"a b\" `c`\n}", "jwt {\n\t{\n}", "jwt_auth {\n}\n}", "jwt_auth {\n\trequire \"\" \"\"\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tokens, err := caddyfile.Tokenize([]byte(text), "Caddyfile")
		if err != nil {
			return
		}
		if v, err := parseGlobalOption(caddyfile.NewDispenser(tokens), nil); err == nil {
			app, ok := v.(httpcaddyfile.App)
			if !ok {
				t.Fatalf("jwt option returned %T", v)
			}
			var back App
			if err := json.Unmarshal(app.Value, &back); err != nil {
				t.Fatalf("jwt option produced JSON that does not load: %v: %s", err, app.Value)
			}
			_ = back.Validate()
		}
		var au Auth
		if err := au.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err == nil {
			b, err := json.Marshal(&au)
			if err != nil {
				t.Fatal(err)
			}
			var back Auth
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			for _, r := range back.Require {
				if r.Claim == "" && len(r.Values) == 0 {
					t.Fatalf("require parsed to an empty requirement from %q", text)
				}
			}
		}
		var is Issue
		if err := is.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err == nil {
			b, err := json.Marshal(&is)
			if err != nil {
				t.Fatal(err)
			}
			var back Issue
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("jwt_issue produced JSON that does not load: %v: %s", err, b)
			}
		}
	})
}

// FuzzLoginBody feeds login bodies to the issuer's body parser: it must
// never panic, refuse only with 400, 413 or 415, and what it reads must be
// what encoding/json or url.ParseQuery read from the same body.
func FuzzLoginBody(f *testing.F) {
	for _, s := range [][2]string{
		{"application/json", `{"username":"alice","password":"pw"}`},
		{"application/json; charset=utf-8", `{"username":"alice","password":"pw","extra":[1,{"a":null}]}`},
		{"application/json", `{"username":"mallory","username":"alice","password":"pw"}`},
		{"application/json", `{"username":"alice","Password":"x","password":"pw"}`},
		{"application/json", `{"username":"al\u0000ice","password":"\ud800"}`},
		{"application/json", `{"username":1,"password":null}`},
		{"application/json", `["username","alice"]`},
		{"application/json", `{"username":"alice","password":"pw"} {}`},
		{"application/json", ""},
		{"application/x-www-form-urlencoded", "username=alice&password=pw"},
		{"application/x-www-form-urlencoded", "username=alice&username=bob&password=pw"},
		{"application/x-www-form-urlencoded", "username=%zz&password=pw"},
		{"application/x-www-form-urlencoded", "username=alice;password=pw"},
		{"text/plain", "username=alice&password=pw"},
		{"", `{"username":"alice","password":"pw"}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		fields, e := readBodyFields(httptest.NewRecorder(), r, credentialFieldNames, true)
		if e != nil {
			switch e.status {
			case 400, 413, 415:
			default:
				t.Fatalf("refusal %d %q", e.status, e.msg)
			}
			return
		}
		mt, _, _ := mime.ParseMediaType(contentType)
		switch mt {
		case "application/json":
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("accepted a body encoding/json refuses: %v", err)
			}
			for _, n := range credentialFieldNames {
				v, _ := m[n].(string)
				if fields[n] != v {
					t.Fatalf("%s read as %q, encoding/json reads %q", n, fields[n], v)
				}
				for k := range m {
					if k != n && strings.EqualFold(k, n) {
						t.Fatalf("accepted %q next to %q", k, n)
					}
				}
			}
		case "application/x-www-form-urlencoded":
			vals, err := url.ParseQuery(body)
			if err != nil {
				t.Fatalf("accepted a form url.ParseQuery refuses: %v", err)
			}
			for _, n := range credentialFieldNames {
				if len(vals[n]) > 1 || fields[n] != vals.Get(n) {
					t.Fatalf("%s read as %q from %q", n, fields[n], vals[n])
				}
			}
		default:
			if body != "" {
				t.Fatalf("accepted a body of type %q", contentType)
			}
		}
	})
}
