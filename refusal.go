package jwtextended

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
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

// defaultMessageKey is the key of the refusal message in JSON bodies
// (flask-jwt-extended's JWT_ERROR_MESSAGE_KEY).
const defaultMessageKey = "msg"

// msgBody is the JSON body {"msg": msg}, without HTML escaping so that
// "<JWT>" reads as written.
func msgBody(msg string) []byte { return keyedBody(defaultMessageKey, msg) }

// keyedBody is the JSON body {key: msg}, without HTML escaping.
func keyedBody(key, msg string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{key: msg})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// refusalBodies is an app's table of refusal bodies under its message_key
// (nil for the default key, whose bodies every authError carries). A body
// is built the first time the app refuses with that message, then reused:
// copy on write, so that reading it takes no lock.
type refusalBodies struct {
	key    string
	mu     sync.Mutex
	bodies atomic.Pointer[map[string][]byte]
}

// maxRefusalBodies bounds the table; the refusals are a fixed set, well
// below it.
const maxRefusalBodies = 1024

func newRefusalBodies(key string) *refusalBodies {
	if key == "" || key == defaultMessageKey {
		return nil
	}
	return &refusalBodies{key: key}
}

// body is e's JSON body under the table's key.
func (t *refusalBodies) body(e *authError) []byte {
	if t == nil {
		return e.body
	}
	if m := t.bodies.Load(); m != nil {
		if b, ok := (*m)[e.msg]; ok {
			return b
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.bodies.Load()
	if old != nil {
		if b, ok := (*old)[e.msg]; ok {
			return b
		}
	}
	b := keyedBody(t.key, e.msg)
	if old != nil && len(*old) >= maxRefusalBodies {
		return b
	}
	m := make(map[string][]byte, 1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[e.msg] = b
	t.bodies.Store(&m)
	return b
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
	errBadHeader            = newAuthError(401, "bad_authorization_header", "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'").asNoToken()
	errMultipleHeaders      = newAuthError(401, "bad_authorization_header", "Only one Authorization header is allowed").asNoToken()
	errTooLarge             = coreRefusal(jws.ErrTooLarge)
	errMalformed            = coreRefusal(jws.ErrMalformed)
	errBadEncoding          = coreRefusal(jws.ErrBadEncoding)
	errBadHeaderJSON        = coreRefusal(jws.ErrBadHeader)
	errCrit                 = coreRefusal(jws.ErrCrit)
	errAlgNotAllowed        = coreRefusal(jws.ErrAlgNotAllowed)
	errUnknownKID           = coreRefusal(jws.ErrUnknownKID)
	errBadKID               = coreRefusal(jws.ErrBadKID)
	errSignature            = coreRefusal(jws.ErrSignature)
	errBadPayloadJSON       = coreRefusal(token.ErrBadPayload)
	errDuplicateClaim       = coreRefusal(token.ErrDuplicateClaim)
	errExpired              = coreRefusal(token.ErrExpired)
	errMissingExp           = coreRefusal(token.ErrMissingExp)
	errBadExp               = coreRefusal(token.ErrBadExp)
	errBadNbf               = coreRefusal(token.ErrBadNbf)
	errBadIat               = coreRefusal(token.ErrBadIat)
	errNotYetValidNbf       = coreRefusal(token.ErrNotYetValidNbf)
	errNotYetValidIat       = coreRefusal(token.ErrNotYetValidIat)
	errIssuer               = coreRefusal(token.ErrIssuer)
	errMissingIssuer        = coreRefusal(token.ErrMissingIssuer)
	errAudience             = coreRefusal(token.ErrAudience)
	errMissingAudience      = coreRefusal(token.ErrMissingAudience)
	errBadType              = coreRefusal(token.ErrBadType)
	errBadJTI               = coreRefusal(token.ErrBadJTI)
	errMissingIdentity      = coreRefusal(token.ErrMissingIdentity)
	errBadIdentity          = coreRefusal(token.ErrBadIdentity)
	errEmptyIdentity        = coreRefusal(token.ErrEmptyIdentity)
	errControlChar          = coreRefusal(token.ErrControlChar)
	errRevoked              = newAuthError(401, "revoked", "Token has been revoked")
	errRefreshNotAllowed    = newAuthError(401, "wrong_token_type", "Only non-refresh tokens are allowed")
	errAccessNotAllowed     = newAuthError(401, "wrong_token_type", "Only refresh tokens are allowed")
	errNotFresh             = newAuthError(401, "not_fresh", "Fresh token required")
	errMissingCSRF          = newAuthError(401, "csrf_missing", "Missing CSRF token")
	errCSRFMismatch         = newAuthError(401, "csrf_mismatch", "CSRF double submit tokens do not match")
	errMissingCSRFClaim     = newAuthError(401, "csrf_missing", "Missing claim: csrf")
	errForbidden            = newAuthError(403, "forbidden", "Insufficient claims")
)

// coreRefusals holds the refusal (status 401, JSON body) of every refusal
// of the token core, built once, so that refusing costs no encoding.
var coreRefusals = func() map[*token.Error]*authError {
	m := make(map[*token.Error]*authError)
	for _, e := range token.Errors() {
		m[e] = newAuthError(http.StatusUnauthorized, e.Code, e.Msg)
	}
	return m
}()

// coreRefusal returns the refusal of an error of the token core.
func coreRefusal(e *token.Error) *authError {
	if ae, ok := coreRefusals[e]; ok {
		return ae
	}
	// an error the core does not list: still a 401 with its message
	return newAuthError(http.StatusUnauthorized, e.Code, e.Msg)
}

// errorsAsAuth extracts an authError from err, if there is one.
func errorsAsAuth(err error) (*authError, bool) {
	var ae *authError
	ok := errors.As(err, &ae)
	return ae, ok
}

// writeAuthError sends a refusal as the contract shapes it: JSON
// {"msg": ...}, and for a 401 a Bearer challenge that says invalid_token
// when a token was presented.
func writeAuthError(w http.ResponseWriter, e *authError) { writeRefusal(w, e, e.body) }

// writeRefusal sends the refusal e with the JSON body given, the app's
// (see App.writeAuthError).
func writeRefusal(w http.ResponseWriter, e *authError, body []byte) {
	h := w.Header()
	setChallenge(h, e)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// writeAuthError sends a refusal with the app's message_key.
func (a *App) writeAuthError(w http.ResponseWriter, e *authError) {
	if a == nil {
		writeAuthError(w, e)
		return
	}
	writeRefusal(w, e, a.refusals.body(e))
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
