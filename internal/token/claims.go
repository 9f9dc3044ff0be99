package token

import "github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"

// Token types of the flask-jwt-extended layout.
const (
	TypeAccess  = "access"
	TypeRefresh = "refresh"
)

// FamilyClaim names the refresh-token family a token belongs to when
// refresh rotation is on: one random id per login, shared by every token
// that login's refresh chain mints. Revoking it revokes the whole family.
const FamilyClaim = "fam"

// reservedClaims are minted by the issuer itself; configured claims may
// not set them (nor the identity claim).
var reservedClaims = map[string]bool{
	"sub": true, "type": true, "fresh": true, "jti": true, "iat": true, "nbf": true,
	"exp": true, "iss": true, "aud": true, "csrf": true, FamilyClaim: true,
	ClaimAuthTime: true, ClaimAMR: true, ClaimACR: true,
}

// foldedReserved are the reserved names folded as strictjson compares
// member names.
var foldedReserved = func() map[string]bool {
	m := make(map[string]bool, len(reservedClaims))
	for name := range reservedClaims {
		m[strictjson.Fold(name)] = true
	}
	return m
}()

// CollidesWithReserved reports whether a claim name equals a reserved
// one up to the case and Unicode folding under which the verifier refuses
// duplicate names ("Type", "FRESH", "ſub"): a token that carries both is
// refused with "Duplicate claim names".
func CollidesWithReserved(name string) bool { return foldedReserved[strictjson.Fold(name)] }
