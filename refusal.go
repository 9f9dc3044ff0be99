package jwtextended

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// challenge, when set, is the WWW-Authenticate value of a 401 (the
	// step-up challenge of RFC 9470).
	challenge string
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

// writeRefusal sends the refusal e with the JSON body given, the app's
// (see refusalBodies.write).
func writeRefusal(w http.ResponseWriter, e *authError, body []byte) {
	h := w.Header()
	setChallenge(h, e)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// write sends a refusal with the app's message_key.
func (t *refusalBodies) write(w http.ResponseWriter, e *authError) {
	writeRefusal(w, e, t.body(e))
}

func setChallenge(h http.Header, e *authError) {
	if e.status != http.StatusUnauthorized {
		return
	}
	if e.challenge != "" {
		h.Set("WWW-Authenticate", e.challenge)
	} else if e.noToken {
		h.Set("WWW-Authenticate", "Bearer")
	} else {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
}

// stepUpRefusal is the refusal of a token that verifies but is not fresh
// enough for a jwt_auth: 401 "Fresh token required" with the challenge of
// RFC 9470 section 3, naming max_age and acr_values when the handler sets
// them, so that a client knows to send the user back to log in.
func stepUpRefusal(maxAge time.Duration, acr []string) *authError {
	e := newAuthError(401, "not_fresh", "Fresh token required")
	c := `Bearer error="insufficient_user_authentication", error_description="Fresh token required"`
	if maxAge > 0 {
		c += fmt.Sprintf(`, max_age="%d"`, int64(maxAge/time.Second))
	}
	if len(acr) > 0 {
		c += `, acr_values="` + strings.Join(acr, " ") + `"`
	}
	e.challenge = c
	return e
}

// errStepUp is the step-up refusal of a route that needs a fresh token
// but sets no max_age or acr (registering or removing a passkey).
var errStepUp = stepUpRefusal(0, nil)

// isChallengeValue reports whether v can stand in a quoted parameter of a
// challenge (RFC 6750 section 3: %x20-21 / %x23-5B / %x5D-7E) and in the
// space-separated acr_values: printable ASCII without space, quote or
// backslash.
func isChallengeValue(v string) bool {
	if v == "" || len(v) > 256 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Refusals of the issuer's routes.
var (
	errBadCredentials     = newAuthError(401, "bad_credentials", "Bad username or password").asNoToken()
	errTooManyFailures    = newAuthError(429, "throttled", "Too many failed login attempts")
	errMethodNotAllowed   = newAuthError(405, "method_not_allowed", "Method Not Allowed")
	errUnsupportedMedia   = newAuthError(415, "unsupported_media_type", "Content-Type must be application/json or application/x-www-form-urlencoded")
	errBodyTooLarge       = newAuthError(413, "body_too_large", "Request body is too large")
	errBodyTimeout        = newAuthError(408, "body_timeout", "Request body took too long")
	errBadJSONBody        = newAuthError(400, "bad_request", "Request body is not valid JSON")
	errJSONNotObject      = newAuthError(400, "bad_request", "Request body must be a JSON object")
	errBadFormBody        = newAuthError(400, "bad_request", "Request body is not a valid form")
	errEmptyBody          = newAuthError(400, "bad_request", "Missing request body")
	errUnknownUser        = newAuthError(401, "unknown_user", "User not found")
	errIdentityMismatch   = newAuthError(401, "identity_mismatch", "Access and refresh tokens belong to different users")
	errForeignToken       = newAuthError(401, "foreign_token", "Only refresh tokens issued here can be used here")
	errForeignAccessToken = newAuthError(401, "foreign_token", "Only access tokens issued here can be used here")
	errNotRevocable       = newAuthError(400, "not_revocable", "Token has no jti and cannot be revoked")
	errRevocationFailed   = newAuthError(503, "revocation_unavailable", "Logout could not be recorded; try again")
	errRotationFailed     = newAuthError(503, "revocation_unavailable", "Refresh could not be recorded; try again")
	errMintFailed         = newAuthError(500, "mint_failed", "Token could not be issued")
	errFieldDuplicated    = fieldRefusals{format: "%q is given more than once"}
	errFieldMissing       = fieldRefusals{format: "Missing %q in request body"}
	errFieldNotString     = fieldRefusals{format: "%q must be a string"}
	credentialFieldNames  = []string{"username", "password"}
)

// errBadUpstreamIdentity is the answer when the app's identity or claims
// cannot be used; the reason is logged, never sent.
var errBadUpstreamIdentity = newAuthError(http.StatusBadGateway, "bad_upstream_identity", "Bad identity from upstream")

// Refusals of the json source.
var (
	errNotJSON        = newAuthError(401, "missing", "Invalid content-type. Must be application/json.").asMissing()
	errBodyUnreadable = newAuthError(400, "bad_request", "Request body could not be read")
)

// fieldRefusals are the 400s about one body field, built once per field
// name (the names come from configuration: refresh_json_key, say).
type fieldRefusals struct {
	format string
	m      sync.Map // field name -> *authError
}

func (f *fieldRefusals) of(name string) *authError {
	if e, ok := f.m.Load(name); ok {
		return e.(*authError)
	}
	e, _ := f.m.LoadOrStore(name, newAuthError(400, "bad_request", fmt.Sprintf(f.format, name)))
	return e.(*authError)
}
