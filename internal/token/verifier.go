package token

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
)

// Verifier checks tokens against the trusted keys and the claims the
// configuration asks for.
type Verifier struct {
	Keys *keys.Ring
	// Issuer, when set, must be the token's iss.
	Issuer string
	// Audience, when set, must hold the token's aud (or one of them); when
	// unset, a token with aud is refused (RFC 7519 section 4.1.3).
	Audience []string
	// IdentityClaim names the user; a string or number, never empty.
	IdentityClaim string
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock.
	Now func() time.Time
	// Cache, when not nil, remembers verified tokens.
	Cache *Cache
	// Prepare, when set, is called once per newly verified token before it
	// is cached; its result is the token's Prepared.
	Prepare func(*Verified) any
}

// Verify checks a raw token: signature, claims and the clock. A token
// verified before with the same keys comes from the cache; the clock is
// checked either way.
func (v *Verifier) Verify(raw string) (*Verified, *Error) {
	now := v.Now()
	snap := v.Keys.Current()
	if v.Cache != nil {
		if tok := v.Cache.Get(raw, snap, now); tok != nil {
			if e := v.CheckTime(tok, now); e != nil {
				return nil, e
			}
			return tok, nil
		}
	}
	tok, e := v.Parse(raw, snap)
	if e != nil {
		return nil, e
	}
	if e := v.CheckTime(tok, now); e != nil {
		return nil, e
	}
	if v.Prepare != nil {
		tok.Prepared = v.Prepare(tok)
	}
	if v.Cache != nil {
		v.Cache.Put(tok, snap)
	}
	return tok, nil
}

// Parse checks a compact JWS and its claims against keys, except for what
// depends on the clock (CheckTime), the request or revocation.
func (v *Verifier) Parse(raw string, keys jws.KeySet) (*Verified, *Error) {
	payloadB64, payload, key, e := jws.Verify(raw, keys)
	if e != nil {
		return nil, e
	}
	claims, e := decodeClaims(payload)
	if e != nil {
		return nil, e
	}
	t := &Verified{Raw: raw, PayloadB64: payloadB64, PayloadJSON: string(payload), Claims: claims, Key: key}
	if e := v.checkClaims(t); e != nil {
		return nil, e
	}
	return t, nil
}

// checkClaims checks every claim that does not depend on the clock, in
// the order that decides which refusal wins when several apply.
func (v *Verifier) checkClaims(t *Verified) *Error {
	if e := readTimes(t); e != nil {
		return e
	}
	if e := v.checkIssuer(t); e != nil {
		return e
	}
	if e := v.checkAudience(t); e != nil {
		return e
	}
	if e := readType(t); e != nil {
		return e
	}
	readFresh(t)
	readAuthTime(t)
	if e := readIDs(t); e != nil {
		return e
	}
	return v.readIdentity(t)
}

// CheckTime checks exp, nbf and iat against now with the leeway. It runs
// on every request, cached token or not.
func (v *Verifier) CheckTime(t *Verified, now time.Time) *Error {
	n := unixSeconds(now)
	leeway := v.Leeway.Seconds()
	if n >= t.expAt+leeway {
		return ErrExpired
	}
	if t.hasNbf && n+leeway < t.nbf {
		return ErrNotYetValidNbf
	}
	if t.hasIat && n+leeway < t.iat {
		return ErrNotYetValidIat
	}
	return nil
}

// decodeClaims reads a verified payload: one JSON object whose claims two
// parsers cannot read differently.
func decodeClaims(payload []byte) (map[string]any, *Error) {
	claims, fault := strictjson.Decode(payload)
	switch fault {
	case strictjson.OK:
		return claims, nil
	case strictjson.Duplicate:
		return nil, ErrDuplicateClaim
	case strictjson.BadChar:
		return nil, ErrControlChar
	}
	// not one JSON object, nested too deep, or invalid Unicode, which
	// encoding/json would turn into U+FFFD: two different signed payloads
	// must not read as the same claims
	return nil, ErrBadPayload
}

// readTimes reads the registered time claims, which must be JSON numbers
// (RFC 7519 NumericDate); exp is required.
func readTimes(t *Verified) *Error {
	expV, ok := t.Claims["exp"]
	if !ok {
		return ErrMissingExp
	}
	exp, ok := numericDate(expV)
	if !ok {
		return ErrBadExp
	}
	if !inDateRange(exp) {
		return ErrDateRange
	}
	t.setExp(exp)
	if v, ok := t.Claims["nbf"]; ok {
		if t.nbf, ok = numericDate(v); !ok {
			return ErrBadNbf
		}
		if !inDateRange(t.nbf) {
			return ErrDateRange
		}
		t.hasNbf = true
	}
	if v, ok := t.Claims["iat"]; ok {
		if t.iat, ok = numericDate(v); !ok {
			return ErrBadIat
		}
		if !inDateRange(t.iat) {
			return ErrDateRange
		}
		t.hasIat = true
	}
	return nil
}

func (v *Verifier) checkIssuer(t *Verified) *Error {
	if v.Issuer == "" {
		return nil
	}
	iss, ok := t.Claims["iss"]
	if !ok {
		return ErrMissingIssuer
	}
	if s, _ := iss.(string); s != v.Issuer {
		return ErrIssuer
	}
	return nil
}

func (v *Verifier) checkAudience(t *Verified) *Error {
	aud, present := t.Claims["aud"]
	if len(v.Audience) == 0 {
		// RFC 7519 4.1.3: a token meant for a named audience is refused
		// by a verifier that is not configured as one.
		if present {
			return ErrAudience
		}
		return nil
	}
	if !present {
		return ErrMissingAudience
	}
	match := func(s string) bool {
		for _, want := range v.Audience {
			if s == want {
				return true
			}
		}
		return false
	}
	switch a := aud.(type) {
	case string:
		if match(a) {
			return nil
		}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && match(s) {
				return nil
			}
		}
	}
	return ErrAudience
}

// readType reads type: access or refresh; a token without type is an
// access token (tokens of other issuers).
func readType(t *Verified) *Error {
	switch v := t.Claims["type"].(type) {
	case nil:
		if _, present := t.Claims["type"]; present {
			return ErrBadType
		}
		t.Type = TypeAccess
	case string:
		if v != TypeAccess && v != TypeRefresh {
			return ErrBadType
		}
		t.Type = v
	default:
		return ErrBadType
	}
	return nil
}

// readFresh reads fresh: a JSON true, or a unix time until which the token
// is fresh; anything else is not fresh.
func readFresh(t *Verified) {
	switch v := t.Claims["fresh"].(type) {
	case bool:
		t.freshTrue = v
	case json.Number:
		if f, err := v.Float64(); err == nil {
			t.freshUntil = f
		}
	}
}

// readIDs reads jti (a string when present), csrf and the family.
func readIDs(t *Verified) *Error {
	if v, ok := t.Claims["jti"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return ErrBadJTI
		}
		t.JTI = s
	}
	if s, ok := t.Claims["csrf"].(string); ok {
		t.CSRF = s
	}
	if s, ok := t.Claims[FamilyClaim].(string); ok {
		t.Family = s
	}
	return nil
}

func (v *Verifier) readIdentity(t *Verified) *Error {
	id, ok := t.Claims[v.IdentityClaim]
	if !ok {
		return ErrMissingIdentity
	}
	switch x := id.(type) {
	case string:
		if x == "" {
			// an empty X-Jwt-Identity reads as "nobody" to many apps
			return ErrEmptyIdentity
		}
		t.Identity = x
	case json.Number:
		t.Identity = x.String()
	default:
		return ErrBadIdentity
	}
	return nil
}

// maxNumericDate is the last second of the year 9999 (253402300799). A
// NumericDate outside the years 1 to 9999 is refused, so every time fits
// in int64 seconds, in time.Time and in a four-digit year.
const maxNumericDate = 253402300799

// minNumericDate is the first second of the year 1 (-62135596800).
const minNumericDate = -62135596800

// inDateRange reports whether a NumericDate lies between the years 1 and
// 9999.
func inDateRange(f float64) bool { return minNumericDate <= f && f <= maxNumericDate }

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
