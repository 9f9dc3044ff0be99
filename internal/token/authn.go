package token

import (
	"math"
	"strconv"
	"time"
)

// Claims that say when and how the user proved who they are (OpenID
// Connect Core 1.0 section 2, RFC 8176). The minter sets them from a
// credential check; a refresh copies them unchanged.
const (
	// ClaimAuthTime is when the user authenticated, a NumericDate.
	ClaimAuthTime = "auth_time"
	// ClaimAMR lists the authentication methods used (RFC 8176 values
	// such as "pwd", "otp", "mfa").
	ClaimAMR = "amr"
	// ClaimACR names the authentication context class satisfied.
	ClaimACR = "acr"
)

// AMRPassword is RFC 8176's value for a password check.
const AMRPassword = "pwd"

// Authentication is when and how the user authenticated, as a token
// carries it. The zero value is "unknown": no auth_time, amr or acr.
type Authentication struct {
	// Time is when the user authenticated; zero when unknown.
	Time time.Time
	// Methods are the amr values, in order.
	Methods []string
	// Class is the acr value; "" when none.
	Class string
}

// PasswordAt is the authentication of a password checked at t.
func PasswordAt(t time.Time) Authentication {
	return Authentication{Time: t, Methods: []string{AMRPassword}}
}

// put writes the authentication's claims into claims.
func (a *Authentication) put(claims map[string]any) {
	if !a.Time.IsZero() {
		claims[ClaimAuthTime] = a.Time.Unix()
	}
	if len(a.Methods) > 0 {
		claims[ClaimAMR] = a.Methods
	}
	if a.Class != "" {
		claims[ClaimACR] = a.Class
	}
}

// readAuthTime reads auth_time when it is a NumericDate in range; any
// other value reads as absent, which fails every max_age.
func readAuthTime(t *Verified) {
	v, ok := t.Claims[ClaimAuthTime]
	if !ok {
		return
	}
	if f, ok := numericDate(v); ok && inDateRange(f) {
		t.AuthTime, t.HasAuthTime = int64(math.Floor(f)), true
		t.AuthTimeText = strconv.FormatInt(t.AuthTime, 10)
	}
}

// Authentication is the token's auth_time, amr (its string values) and
// acr (when a string), as a refresh copies them into the tokens it mints.
func (t *Verified) Authentication() Authentication {
	var a Authentication
	if t.HasAuthTime {
		a.Time = time.Unix(t.AuthTime, 0)
	}
	switch v := t.Claims[ClaimAMR].(type) {
	case []any:
		for _, m := range v {
			if s, ok := m.(string); ok {
				a.Methods = append(a.Methods, s)
			}
		}
	case string:
		a.Methods = []string{v}
	}
	a.Class, _ = t.Claims[ClaimACR].(string)
	return a
}
