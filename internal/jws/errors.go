package jws

// Error is a refusal of a token: a stable reason code (for logs, metrics
// and {http.auth.jwt.error}) and the message the client reads, worded as
// flask-jwt-extended words it. Errors are compared by identity.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Refusals of the JWS layer.
var (
	ErrTooLarge      = &Error{"token_too_large", "Token is too large"}
	ErrMalformed     = &Error{"malformed", "Not enough segments"}
	ErrBadEncoding   = &Error{"malformed", "Invalid token encoding"}
	ErrBadHeader     = &Error{"malformed", "Invalid header"}
	ErrCrit          = &Error{"unsupported_header", "Unsupported critical header"}
	ErrAlgNotAllowed = &Error{"algorithm_not_allowed", "The specified alg value is not allowed"}
	ErrUnknownKID    = &Error{"unknown_key", "Unknown key id"}
	ErrBadKID        = &Error{"malformed", "Invalid key id"}
	ErrSignature     = &Error{"invalid_signature", "Signature verification failed"}
)

// Errors lists every refusal of this package, for callers that map them.
func Errors() []*Error {
	return []*Error{ErrTooLarge, ErrMalformed, ErrBadEncoding, ErrBadHeader, ErrCrit, ErrAlgNotAllowed, ErrUnknownKID, ErrBadKID, ErrSignature}
}
