package jwtextended

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// b64 decodes base64url strictly: no padding, no standard-alphabet
// characters, no non-zero trailing bits, so every token has exactly one
// spelling.
var b64 = base64.RawURLEncoding.Strict()

// tokenAlphabet marks the bytes a compact JWS may hold: base64url and dots.
var tokenAlphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		t[c] = true
	}
	return t
}()

// inTokenAlphabet reports whether raw holds only base64url characters and
// dots. Go's base64 decoders skip CR and LF even in strict mode, so without
// this check a newline inside the signature gave a valid token a second
// spelling (a query value can carry %0A).
func inTokenAlphabet(raw string) bool {
	for i := 0; i < len(raw); i++ {
		if !tokenAlphabet[raw[i]] {
			return false
		}
	}
	return true
}

// maxKIDLength bounds the kid header; real ones are short.
const maxKIDLength = 256

// Token types of the flask-jwt-extended layout.
const (
	typeAccess  = "access"
	typeRefresh = "refresh"
)

// verifiedToken is a token whose signature and claims have been checked.
// Everything the request path needs later is extracted once, so a cached
// token costs no decoding.
type verifiedToken struct {
	raw string
	// payloadB64 is the payload segment as received: already base64url
	// without padding, it is what X-Jwt-Claims carries.
	payloadB64 string
	// payloadJSON is the verified payload, for {http.auth.jwt.claims_json}.
	payloadJSON string
	claims      map[string]any

	identity string
	typ      string // access or refresh
	jti      string
	csrf     string
	family   string // fam claim: the refresh-token family (jwt_issue rotate_refresh)
	exp      int64  // unix seconds, rounded down
	expAt    float64
	nbf      float64 // 0 when absent
	iat      float64 // 0 when absent
	hasNbf   bool
	hasIat   bool

	// freshTrue is a JSON true; freshUntil a unix time until which the
	// token is fresh (0: never).
	freshTrue  bool
	freshUntil float64

	// Rendered once at verification for the request path: exp as text,
	// placeholder values boxed as interfaces, and the provider of
	// {http.auth.jwt.claims.*}.
	expStr       string
	boxed        struct{ identity, typ, jti, exp any }
	placeholders caddy.ReplacerFunc
}

// render prepares what publish hands on, once per verified token.
func (t *verifiedToken) render() {
	t.expStr = strconv.FormatInt(t.exp, 10)
	t.boxed.identity, t.boxed.typ, t.boxed.jti, t.boxed.exp = t.identity, t.typ, t.jti, t.expStr
	t.placeholders = t.placeholder
}

// placeholder resolves {http.auth.user.id}, {http.auth.jwt.type|jti|exp},
// {http.auth.jwt.claims_json} and {http.auth.jwt.claims.<name>} for a
// request that this token authenticated ({http.auth.jwt.fresh} is set per
// request, since freshness depends on the time).
func (t *verifiedToken) placeholder(key string) (any, bool) {
	switch key {
	case "http.auth.user.id":
		return t.boxed.identity, true
	case "http.auth.jwt.type":
		return t.boxed.typ, true
	case "http.auth.jwt.jti":
		return t.boxed.jti, true
	case "http.auth.jwt.exp":
		return t.boxed.exp, true
	case "http.auth.jwt.claims_json":
		return t.payloadJSON, true
	}
	name, ok := strings.CutPrefix(key, "http.auth.jwt.claims.")
	if !ok {
		return nil, false
	}
	v, ok := t.claims[name]
	if !ok {
		return nil, false
	}
	return claimString(v), true
}

// isFresh evaluates freshness at now: only a JSON true, or a number not in
// the past, is fresh.
func (t *verifiedToken) isFresh(now time.Time) bool {
	if t.freshTrue {
		return true
	}
	return t.freshUntil != 0 && t.freshUntil >= unixSeconds(now)
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// jwsHeader is the part of the JOSE header this module reads. jku, x5u,
// x5c and jwk are never read: keys come from configuration only.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	KID  json.RawMessage `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// decodeJWSHeader reads alg, kid and crit by their exact names. Header
// parameter names are case-sensitive (RFC 7515 section 4), but
// encoding/json matches struct fields case-insensitively: decoded into a
// struct, {"Alg":"HS256"} would verify here while other JOSE libraries read
// a header without alg.
func decodeJWSHeader(data []byte, hdr *jwsHeader) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if v, ok := m["alg"]; ok {
		if err := json.Unmarshal(v, &hdr.Alg); err != nil {
			return err
		}
	}
	hdr.KID, hdr.Crit = m["kid"], m["crit"]
	return nil
}

// parseToken checks a compact JWS and its claims, except for what depends
// on the clock (see checkTime), the request, or the revocation store.
func (a *App) parseToken(raw string) (*verifiedToken, *authError) {
	payloadB64, payload, e := a.verifySignature(raw, true)
	if e != nil {
		return nil, e
	}
	return a.checkClaims(raw, payloadB64, payload)
}

// verifySignature is the JWS layer of parseToken: it checks the compact
// serialization, the header and the signature, and returns the payload
// segment and its decoded bytes, which it does not interpret. A JWT always
// has a payload (requirePayload); a bare JWS may have an empty one.
func (a *App) verifySignature(raw string, requirePayload bool) (string, []byte, *authError) {
	if len(raw) > maxTokenSize {
		return "", nil, errTooLarge
	}
	dot1 := strings.IndexByte(raw, '.')
	if dot1 <= 0 {
		return "", nil, errMalformed
	}
	dot2 := strings.IndexByte(raw[dot1+1:], '.')
	if dot2 < 0 {
		return "", nil, errMalformed
	}
	dot2 += dot1 + 1
	headerB64, payloadB64, sigB64 := raw[:dot1], raw[dot1+1:dot2], raw[dot2+1:]
	if (requirePayload && payloadB64 == "") || sigB64 == "" || strings.IndexByte(sigB64, '.') >= 0 {
		return "", nil, errMalformed
	}

	if !inTokenAlphabet(raw) {
		return "", nil, errBadEncoding
	}

	headerJSON, err := b64.DecodeString(headerB64)
	if err != nil {
		return "", nil, errBadEncoding
	}
	// one object, unique names, no control character, valid Unicode
	// (encoding/json would turn invalid UTF-8 into U+FFFD, letting two
	// different headers read alike)
	if scanJSONObject(headerJSON) != jsonOK {
		return "", nil, errBadHeaderJSON
	}
	var hdr jwsHeader
	if err := decodeJWSHeader(headerJSON, &hdr); err != nil {
		return "", nil, errBadHeaderJSON
	}
	if hdr.Crit != nil {
		// RFC 7515 4.1.11: we understand no extension, so any crit fails.
		return "", nil, errCrit
	}
	sig, err := b64.DecodeString(sigB64)
	if err != nil {
		return "", nil, errBadEncoding
	}

	// The kid only selects among configured keys; the algorithm must be
	// the one that key is bound to.
	var keys []*verificationKey
	if hdr.KID != nil {
		var kid string
		if err := json.Unmarshal(hdr.KID, &kid); err != nil || len(kid) > maxKIDLength {
			return "", nil, errBadKID
		}
		vk := a.keys.keyFor(kid)
		if vk == nil {
			return "", nil, errUnknownKID
		}
		keys = []*verificationKey{vk}
	} else {
		keys = a.keys.keysWithoutKID()
	}
	signingString := raw[:dot2]
	verified, algSeen := false, false
	for _, vk := range keys {
		if vk.alg != hdr.Alg {
			continue
		}
		algSeen = true
		if vk.method.Verify(signingString, sig, vk.key) == nil {
			verified = true
			break
		}
	}
	if !algSeen {
		return "", nil, errAlgNotAllowed
	}
	if !verified {
		return "", nil, errSignature
	}

	payload, err := b64.DecodeString(payloadB64)
	if err != nil {
		return "", nil, errBadEncoding
	}
	return payloadB64, payload, nil
}

// checkClaims decodes a verified payload and checks every claim that does
// not depend on the clock.
func (a *App) checkClaims(raw, payloadB64 string, payload []byte) (*verifiedToken, *authError) {
	switch scanJSONObject(payload) {
	case jsonOK:
	case jsonDuplicate:
		return nil, errDuplicateClaim
	case jsonBadChar:
		return nil, errControlChar
	default:
		// not one JSON object, nested too deep, or invalid Unicode, which
		// encoding/json would turn into U+FFFD: two different signed
		// payloads must not read as the same claims
		return nil, errBadPayloadJSON
	}
	// what encoding/json with UseNumber would give, without reflection
	claims := decodeJSONObject(payload)
	t := &verifiedToken{raw: raw, payloadB64: payloadB64, payloadJSON: string(payload), claims: claims}

	// Registered time claims must be JSON numbers (RFC 7519 NumericDate).
	expV, ok := claims["exp"]
	if !ok {
		return nil, errMissingExp
	}
	if t.expAt, ok = numericDate(expV); !ok {
		return nil, errBadExp
	}
	t.exp = int64(math.Floor(t.expAt))
	if v, ok := claims["nbf"]; ok {
		if t.nbf, ok = numericDate(v); !ok {
			return nil, errBadNbf
		}
		t.hasNbf = true
	}
	if v, ok := claims["iat"]; ok {
		if t.iat, ok = numericDate(v); !ok {
			return nil, errBadIat
		}
		t.hasIat = true
	}

	if a.Issuer != "" {
		iss, ok := claims["iss"]
		if !ok {
			return nil, errMissingIssuer
		}
		if s, _ := iss.(string); s != a.Issuer {
			return nil, errIssuer
		}
	}
	if e := a.checkAudience(claims); e != nil {
		return nil, e
	}

	// A token without type is an access token (tokens of other issuers).
	switch v := claims["type"].(type) {
	case nil:
		if _, present := claims["type"]; present {
			return nil, errBadType
		}
		t.typ = typeAccess
	case string:
		if v != typeAccess && v != typeRefresh {
			return nil, errBadType
		}
		t.typ = v
	default:
		return nil, errBadType
	}

	switch v := claims["fresh"].(type) {
	case bool:
		t.freshTrue = v
	case json.Number:
		if f, err := v.Float64(); err == nil {
			t.freshUntil = f
		}
	}

	if v, ok := claims["jti"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, errBadJTI
		}
		t.jti = s
	}
	if s, ok := claims["csrf"].(string); ok {
		t.csrf = s
	}
	if s, ok := claims[familyClaim].(string); ok {
		t.family = s
	}

	id, ok := claims[a.IdentityClaim]
	if !ok {
		return nil, errMissingIdentity
	}
	switch v := id.(type) {
	case string:
		if v == "" {
			// an empty X-Jwt-Identity reads as "nobody" to many apps
			return nil, errEmptyIdentity
		}
		t.identity = v
	case json.Number:
		t.identity = v.String()
	default:
		return nil, errBadIdentity
	}
	t.render()
	return t, nil
}

// checkTime checks exp, nbf and iat against now with the app's leeway. It
// runs on every request, cached token or not.
func (a *App) checkTime(t *verifiedToken, now time.Time) *authError {
	n := unixSeconds(now)
	leeway := time.Duration(a.Leeway).Seconds()
	if n >= t.expAt+leeway {
		return errExpired
	}
	if t.hasNbf && n+leeway < t.nbf {
		return errNotYetValidNbf
	}
	if t.hasIat && n+leeway < t.iat {
		return errNotYetValidIat
	}
	return nil
}

func (a *App) checkAudience(claims map[string]any) *authError {
	aud, present := claims["aud"]
	if len(a.Audience) == 0 {
		// RFC 7519 4.1.3: a token meant for a named audience is refused
		// by a verifier that is not configured as one.
		if present {
			return errAudience
		}
		return nil
	}
	if !present {
		return errMissingAudience
	}
	match := func(s string) bool {
		for _, want := range a.Audience {
			if s == want {
				return true
			}
		}
		return false
	}
	switch v := aud.(type) {
	case string:
		if match(v) {
			return nil
		}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && match(s) {
				return nil
			}
		}
	}
	return errAudience
}

// numericDate accepts a JSON number that is finite.
func numericDate(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
