package jwtextended

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// authError is a refusal: the status, the message the client reads (the
// contract's wording, as flask-jwt-extended words it) and a stable reason
// code for {http.auth.jwt.error}, logs and metrics. The JSON body is built
// once, so refusing costs no encoding on the request path.
type authError struct {
	status int
	code   string
	msg    string
	body   []byte
	// missing marks "no token here", as opposed to a token that was found
	// and refused: the next token source is tried.
	missing bool
	// noToken marks refusals where no token was presented (missing, or an
	// Authorization header of another scheme); the others earn
	// error="invalid_token" in the challenge.
	noToken bool
}

func newAuthError(status int, code, msg string) *authError {
	return &authError{status: status, code: code, msg: msg, body: msgBody(msg)}
}

// msgBody is the JSON body {"msg": msg}, without HTML escaping so that
// "<JWT>" reads as written.
func msgBody(msg string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"msg": msg})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func (e *authError) asMissing() *authError { e.missing, e.noToken = true, true; return e }

func (e *authError) asNoToken() *authError { e.noToken = true; return e }

func (e *authError) Error() string { return e.msg }

// Refusals of the contract, and the reason codes users match in
// handle_errors ({http.auth.jwt.error}).
var (
	errMissingHeader        = newAuthError(401, "missing", "Missing Authorization Header").asMissing()
	errMissingAccessCookie  = newAuthError(401, "missing", `Missing cookie "access_token_cookie"`).asMissing()
	errMissingRefreshCookie = newAuthError(401, "missing", `Missing cookie "refresh_token_cookie"`).asMissing()
	errMissingQuery         = newAuthError(401, "missing", `Missing "jwt" query parameter`).asMissing()
	errBadHeaderType        = newAuthError(401, "bad_authorization_header", "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'").asNoToken()
	errMultipleHeaders      = newAuthError(401, "bad_authorization_header", "Only one Authorization header is allowed").asNoToken()
	errTooLarge             = newAuthError(401, "token_too_large", "Token is too large")
	errMalformed            = newAuthError(401, "malformed", "Not enough segments")
	errBadEncoding          = newAuthError(401, "malformed", "Invalid token encoding")
	errBadHeaderJSON        = newAuthError(401, "malformed", "Invalid header")
	errBadPayloadJSON       = newAuthError(401, "malformed", "Invalid payload")
	errDuplicateClaim       = newAuthError(401, "malformed", "Duplicate claim names are not allowed")
	errCrit                 = newAuthError(401, "unsupported_header", "Unsupported critical header")
	errAlgNotAllowed        = newAuthError(401, "algorithm_not_allowed", "The specified alg value is not allowed")
	errUnknownKID           = newAuthError(401, "unknown_key", "Unknown key id")
	errBadKID               = newAuthError(401, "malformed", "Invalid key id")
	errSignature            = newAuthError(401, "invalid_signature", "Signature verification failed")
	errExpired              = newAuthError(401, "expired", "Token has expired")
	errMissingExp           = newAuthError(401, "malformed", `Token is missing the "exp" claim`)
	errBadExp               = newAuthError(401, "malformed", "Expiration Time claim (exp) must be a number")
	errBadNbf               = newAuthError(401, "malformed", "Not Before claim (nbf) must be a number")
	errBadIat               = newAuthError(401, "malformed", "Issued At claim (iat) must be a number")
	errNotYetValidNbf       = newAuthError(401, "not_yet_valid", "The token is not yet valid (nbf)")
	errNotYetValidIat       = newAuthError(401, "not_yet_valid", "The token is not yet valid (iat)")
	errIssuer               = newAuthError(401, "invalid_issuer", "Invalid issuer")
	errMissingIssuer        = newAuthError(401, "invalid_issuer", `Token is missing the "iss" claim`)
	errAudience             = newAuthError(401, "invalid_audience", "Invalid audience")
	errMissingAudience      = newAuthError(401, "invalid_audience", `Token is missing the "aud" claim`)
	errBadType              = newAuthError(401, "invalid_type", "Invalid token type")
	errBadJTI               = newAuthError(401, "malformed", "Invalid jti claim")
	errMissingIdentity      = newAuthError(401, "missing_identity", "Missing identity claim")
	errBadIdentity          = newAuthError(401, "invalid_identity", "Identity claim must be a string or a number")
	errEmptyIdentity        = newAuthError(401, "invalid_identity", "Identity claim must not be empty")
	errControlChar          = newAuthError(401, "invalid_claim", "Claims must not contain control characters")
	errRevoked              = newAuthError(401, "revoked", "Token has been revoked")
	errRefreshNotAllowed    = newAuthError(401, "wrong_token_type", "Only non-refresh tokens are allowed")
	errAccessNotAllowed     = newAuthError(401, "wrong_token_type", "Only refresh tokens are allowed")
	errNotFresh             = newAuthError(401, "not_fresh", "Fresh token required")
	errMissingCSRF          = newAuthError(401, "csrf_missing", "Missing CSRF token")
	errCSRFMismatch         = newAuthError(401, "csrf_mismatch", "CSRF double submit tokens do not match")
	errMissingCSRFClaim     = newAuthError(401, "csrf_missing", "Missing claim: csrf")
	errForbidden            = newAuthError(403, "forbidden", "Insufficient claims")
)

// errorsAsAuth extracts an authError from err, if there is one.
func errorsAsAuth(err error) (*authError, bool) {
	var ae *authError
	ok := errors.As(err, &ae)
	return ae, ok
}

// writeAuthError sends a refusal as the contract shapes it: JSON
// {"msg": ...}, and for a 401 a Bearer challenge that says invalid_token
// when a token was presented.
func writeAuthError(w http.ResponseWriter, e *authError) {
	h := w.Header()
	setChallenge(h, e)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}

func setChallenge(h http.Header, e *authError) {
	if e.status != http.StatusUnauthorized {
		return
	}
	if e.noToken {
		h.Set("WWW-Authenticate", "Bearer")
	} else {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
}
