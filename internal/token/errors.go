package token

import "github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"

// Error is a refusal with a stable reason code and flask-jwt-extended's
// message; the JWS layer's refusals are of the same type.
type Error = jws.Error

// Refusals of the claims and the clock.
var (
	ErrBadPayload      = &Error{Code: "malformed", Msg: "Invalid payload"}
	ErrDuplicateClaim  = &Error{Code: "malformed", Msg: "Duplicate claim names are not allowed"}
	ErrControlChar     = &Error{Code: "invalid_claim", Msg: "Claims must not contain control characters"}
	ErrExpired         = &Error{Code: "expired", Msg: "Token has expired"}
	ErrMissingExp      = &Error{Code: "malformed", Msg: `Token is missing the "exp" claim`}
	ErrBadExp          = &Error{Code: "malformed", Msg: "Expiration Time claim (exp) must be a number"}
	ErrBadNbf          = &Error{Code: "malformed", Msg: "Not Before claim (nbf) must be a number"}
	ErrBadIat          = &Error{Code: "malformed", Msg: "Issued At claim (iat) must be a number"}
	ErrNotYetValidNbf  = &Error{Code: "not_yet_valid", Msg: "The token is not yet valid (nbf)"}
	ErrNotYetValidIat  = &Error{Code: "not_yet_valid", Msg: "The token is not yet valid (iat)"}
	ErrIssuer          = &Error{Code: "invalid_issuer", Msg: "Invalid issuer"}
	ErrDateRange       = &Error{Code: "malformed", Msg: "Time claims (exp, nbf, iat) must fall between the years 1 and 9999"}
	ErrMissingIssuer   = &Error{Code: "invalid_issuer", Msg: `Token is missing the "iss" claim`}
	ErrAudience        = &Error{Code: "invalid_audience", Msg: "Invalid audience"}
	ErrMissingAudience = &Error{Code: "invalid_audience", Msg: `Token is missing the "aud" claim`}
	ErrBadType         = &Error{Code: "invalid_type", Msg: "Invalid token type"}
	ErrBadJTI          = &Error{Code: "malformed", Msg: "Invalid jti claim"}
	ErrMissingIdentity = &Error{Code: "missing_identity", Msg: "Missing identity claim"}
	ErrBadIdentity     = &Error{Code: "invalid_identity", Msg: "Identity claim must be a string or a number"}
	ErrEmptyIdentity   = &Error{Code: "invalid_identity", Msg: "Identity claim must not be empty"}
)

// Errors lists every refusal a Verifier can return, the JWS layer's
// included, for callers that map them.
func Errors() []*Error {
	return append(jws.Errors(), ErrBadPayload, ErrDuplicateClaim, ErrControlChar, ErrExpired,
		ErrMissingExp, ErrBadExp, ErrBadNbf, ErrBadIat, ErrDateRange, ErrNotYetValidNbf, ErrNotYetValidIat,
		ErrIssuer, ErrMissingIssuer, ErrAudience, ErrMissingAudience, ErrBadType, ErrBadJTI,
		ErrMissingIdentity, ErrBadIdentity, ErrEmptyIdentity)
}
