// Package token verifies and mints tokens in flask-jwt-extended's layout:
// a Verifier turns a raw string into a Verified token or a refusal, with
// an injected clock and a bounded cache of tokens already verified; a
// Minter signs new ones.
package token

import (
	"math"
	"strconv"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
)

// Verified is a token whose signature and claims have been checked.
// Everything the request path needs later is extracted once, so a cached
// token costs no decoding. It is shared by every request that presents the
// same token: read it, never change it.
type Verified struct {
	Raw string
	// PayloadB64 is the payload segment as received: base64url without
	// padding already.
	PayloadB64 string
	// PayloadJSON is the verified payload.
	PayloadJSON string
	// Claims is the payload as encoding/json with UseNumber decodes it.
	Claims map[string]any
	// Key is the key whose signature matched: whether the token was
	// issued here (keys.Ring.Signs) or by another trusted issuer.
	Key *jws.Key

	Identity string
	Type     string // TypeAccess or TypeRefresh
	JTI      string
	CSRF     string
	Family   string // the FamilyClaim: the refresh-token family
	// Exp is exp in unix seconds, rounded down, and ExpText the same in
	// decimal.
	Exp     int64
	ExpText string
	// AuthTime is auth_time in unix seconds, rounded down, when
	// HasAuthTime; AuthTimeText the same in decimal ("" without one).
	AuthTime     int64
	HasAuthTime  bool
	AuthTimeText string

	expAt, nbf, iat float64
	hasNbf, hasIat  bool
	// freshTrue is a JSON true; freshUntil a unix time until which the
	// token is fresh (0: never).
	freshTrue  bool
	freshUntil float64

	// Prepared is what the Verifier's Prepare made of the token, once,
	// before it was cached (e.g. its rendering for the request path).
	Prepared any
}

// IsFresh evaluates freshness at now: only a JSON true, or a number not in
// the past, is fresh.
func (t *Verified) IsFresh(now time.Time) bool {
	if t.freshTrue {
		return true
	}
	return t.freshUntil != 0 && t.freshUntil >= unixSeconds(now)
}

// IssuedAt is when the token was issued, in whole unix seconds: its iat,
// or without one its nbf; ok is false when it has neither.
func (t *Verified) IssuedAt() (sec int64, ok bool) {
	switch {
	case t.hasIat:
		return int64(math.Floor(t.iat)), true
	case t.hasNbf:
		return int64(math.Floor(t.nbf)), true
	}
	return 0, false
}

// ExpiresAt is exp as the token carries it, in unix seconds.
func (t *Verified) ExpiresAt() float64 { return t.expAt }

func (t *Verified) setExp(exp float64) {
	t.expAt = exp
	t.Exp = int64(math.Floor(exp))
	t.ExpText = strconv.FormatInt(t.Exp, 10)
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
