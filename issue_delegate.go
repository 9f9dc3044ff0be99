package jwtextended

// Delegated routes (`login <path> upstream`, `reauth <path> upstream`,
// `refresh <path> upstream`): the app behind Caddy says who the user is,
// Caddy does the rest. jwt_issue passes the request on to the next handler
// (typically reverse_proxy to the app) and reads its answer:
//
//   - 2xx with X-Jwt-Issue-Identity: the identity, and the claims of the
//     optional X-Jwt-Issue-Claims (one JSON object); on a login or reauth
//     the optional X-Jwt-Issue-Amr and X-Jwt-Issue-Acr say how the user
//     authenticated (default amr ["pwd"]); nothing of the app's answer
//     reaches the client, and Caddy mints and delivers the tokens;
//   - anything else passes through to the client unchanged (without its
//     X-Jwt-Issue-* headers), and nothing is minted; 401 and 403 count as
//     a failed login for the throttle;
//   - an app that cannot be reached, or a 5xx, passes through as
//     reverse_proxy reports it.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// The request header that tells the app which delegated route calls it
// (login, reauth or refresh): clients can never send an X-Jwt-* header,
// so an app refuses a credential check or a refresh confirmation without
// it.
const hdrIssueRoute = "X-Jwt-Issue-Route"

// The response headers an app answers a delegated route with.
const (
	hdrIssueIdentity = "X-Jwt-Issue-Identity"
	hdrIssueClaims   = "X-Jwt-Issue-Claims"
	hdrIssueAMR      = "X-Jwt-Issue-Amr"
	hdrIssueACR      = "X-Jwt-Issue-Acr"
	// maxIssueAMR bounds the methods of X-Jwt-Issue-Amr.
	maxIssueAMR = 16
	// maxIssueClaims bounds X-Jwt-Issue-Claims: the claims go into every
	// token, which is refused past 8 KiB.
	maxIssueClaims = 4 << 10
	// maxIssueIdentity bounds X-Jwt-Issue-Identity.
	maxIssueIdentity = 256
)

// upstreamAnswer is what the app said to a delegated request.
type upstreamAnswer struct {
	// status is the app's status; 0 when it wrote nothing.
	status int
	// vouching: the app answered 2xx with X-Jwt-Issue-Identity, and its
	// answer was kept from the client; identity is that header's value.
	vouching bool
	identity string
	// header is the app's header, for the claims.
	header http.Header
}

// vouched reports whether the app vouched for a user: a 2xx with
// X-Jwt-Issue-Identity, empty or not (an empty one is refused as a bad
// identity, never passed through).
func (a upstreamAnswer) vouched() bool { return a.vouching }

// failedLogin reports whether the app refused the credentials: one of the
// issuer's failed_status answers (default 401, 403) without an identity.
func (a upstreamAnswer) failedLogin(failed []int) bool {
	return !a.vouching && a.status != 0 && slices.Contains(failed, a.status)
}

// askUpstream passes r on to next and reads the answer. An answer that
// vouches for a user is kept from the client; any other is passed through
// to w as it comes (streamed, never buffered), without the X-Jwt-Issue-*
// headers. err is next's error (reverse_proxy's when the app cannot be
// reached), for Caddy to report.
func askUpstream(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (upstreamAnswer, error) {
	u := &upstreamInterceptor{client: w, header: http.Header{}}
	err := next.ServeHTTP(u, r)
	if u.passing {
		u.passTrailers()
	}
	return upstreamAnswer{status: u.status, vouching: u.vouching, identity: u.identity, header: u.header}, err
}

// upstreamInterceptor is the ResponseWriter the next handler writes a
// delegated route's answer to. It decides at WriteHeader: a 2xx with an
// identity is kept (its body discarded), anything else goes to the client.
type upstreamInterceptor struct {
	client   http.ResponseWriter
	header   http.Header
	status   int
	vouching bool
	identity string
	passing  bool // the answer goes to the client
}

func (u *upstreamInterceptor) Header() http.Header { return u.header }

func (u *upstreamInterceptor) WriteHeader(status int) {
	if u.status != 0 || status < 200 {
		return // written already; 1xx are not forwarded
	}
	u.status = status
	if ids := u.header.Values(hdrIssueIdentity); status/100 == 2 && len(ids) > 0 {
		u.vouching, u.identity = true, strings.Join(ids, ",")
		return
	}
	u.passing = true
	dst := u.client.Header()
	for name, vals := range u.header {
		if !hasIssuePrefix(name) {
			dst[name] = vals
		}
	}
	u.client.WriteHeader(status)
}

func (u *upstreamInterceptor) Write(b []byte) (int, error) {
	if u.status == 0 {
		u.WriteHeader(http.StatusOK)
	}
	if !u.passing {
		return len(b), nil // the app's body of a vouching answer is discarded
	}
	return u.client.Write(b)
}

// passTrailers copies the trailers of an answer that passed through, set
// once its body was written (announced in Trailer, or under
// http.TrailerPrefix), to the client, without X-Jwt-Issue-* names.
func (u *upstreamInterceptor) passTrailers() {
	dst := u.client.Header()
	announced := u.header.Values("Trailer")
	for name, vals := range u.header {
		bare := strings.TrimPrefix(name, http.TrailerPrefix)
		if hasIssuePrefix(bare) {
			continue
		}
		if bare != name || headerHasToken(announced, name) {
			dst[name] = vals
		}
	}
}

// FlushError flushes an answer that passes through; a kept one has nothing
// to flush. (No Unwrap: a flush of the client's writer must never send a
// kept answer's headers.)
func (u *upstreamInterceptor) FlushError() error {
	if !u.passing {
		return nil
	}
	return http.NewResponseController(u.client).Flush()
}

// hasIssuePrefix reports whether a header name starts with X-Jwt-Issue-,
// case-insensitively.
func hasIssuePrefix(name string) bool {
	const p = "x-jwt-issue-"
	return len(name) >= len(p) && strings.EqualFold(name[:len(p)], p)
}

// vouchedAuthentication is how the app says the user authenticated, now:
// the methods of X-Jwt-Issue-Amr (space-separated, default "pwd") and the
// class of X-Jwt-Issue-Acr. reason says what is wrong, for the log.
func vouchedAuthentication(a upstreamAnswer, now time.Time) (auth token.Authentication, reason string) {
	auth = token.PasswordAt(now)
	if vals := a.header.Values(hdrIssueAMR); len(vals) > 0 {
		methods := strings.Fields(strings.Join(vals, " "))
		switch {
		case len(methods) == 0:
			return auth, "X-Jwt-Issue-Amr is empty"
		case len(methods) > maxIssueAMR:
			return auth, "X-Jwt-Issue-Amr names more than 16 methods"
		}
		for _, m := range methods {
			if len(m) > 64 || !isChallengeValue(m) {
				return auth, "X-Jwt-Issue-Amr holds a method that is not printable ASCII of at most 64 bytes"
			}
		}
		auth.Methods = methods
	}
	switch vals := a.header.Values(hdrIssueACR); {
	case len(vals) > 1:
		return auth, "several X-Jwt-Issue-Acr headers"
	case len(vals) == 1 && !isChallengeValue(vals[0]):
		return auth, "X-Jwt-Issue-Acr is not one value of printable ASCII without spaces, of at most 256 bytes"
	case len(vals) == 1:
		auth.Class = vals[0]
	}
	return auth, ""
}

// vouchedUser checks the identity and claims the app vouched with, and,
// for a login or reauth (auth non-nil), how the user authenticated.
// reason says what is wrong, for the log; the client only reads
// errBadUpstreamIdentity.
func (h *Issue) vouchedUser(a upstreamAnswer, auth *token.Authentication) (identity string, claims map[string]any, reason string) {
	identity = a.identity
	switch {
	case len(a.header.Values(hdrIssueIdentity)) > 1:
		return "", nil, "several X-Jwt-Issue-Identity headers"
	case len(identity) > maxIssueIdentity:
		return "", nil, "X-Jwt-Issue-Identity is longer than 256 bytes"
	case identity == "":
		return "", nil, "X-Jwt-Issue-Identity is empty"
	case strictjson.HasControlChar(identity) || strings.TrimSpace(identity) != identity:
		return "", nil, "X-Jwt-Issue-Identity holds control characters or surrounding space"
	}
	if auth != nil {
		if *auth, reason = vouchedAuthentication(a, h.app.now()); reason != "" {
			return "", nil, reason
		}
	}
	vals := a.header.Values(hdrIssueClaims)
	switch {
	case len(vals) == 0:
		if auth != nil && (len(a.header.Values(hdrIssueAMR)) > 0 || len(a.header.Values(hdrIssueACR)) > 0) {
			// the app's methods and class alone may make a token too large
			if reason := h.undeliverable(identity, nil, auth); reason != "" {
				return "", nil, reason
			}
		}
		return identity, nil, ""
	case len(vals) > 1:
		return "", nil, "several X-Jwt-Issue-Claims headers"
	case len(vals[0]) > maxIssueClaims:
		return "", nil, "X-Jwt-Issue-Claims is larger than 4 KiB"
	}
	m, fault := strictjson.Decode([]byte(vals[0]))
	switch fault {
	case strictjson.OK:
	case strictjson.Duplicate:
		return "", nil, "X-Jwt-Issue-Claims repeats a name"
	case strictjson.BadChar:
		return "", nil, "X-Jwt-Issue-Claims holds control characters"
	default:
		return "", nil, "X-Jwt-Issue-Claims is not one JSON object"
	}
	for name := range m {
		if claimSetByModule(name, h.app.IdentityClaim) {
			return "", nil, fmt.Sprintf("X-Jwt-Issue-Claims sets %q, which is (up to case) a claim the module sets itself", name)
		}
	}
	if reason := h.undeliverable(identity, m, auth); reason != "" {
		return "", nil, reason
	}
	return identity, m, ""
}

// maxCookieBytes is the size of one cookie (name, value and attributes)
// that every browser keeps (RFC 6265 section 6.1); a larger one is dropped.
const maxCookieBytes = 4096

// undeliverable mints the tokens an identity and claims from the app would
// get, and says why they could not be delivered: a token the verifier
// refuses (its own rules: the name folding, the size limit), or, with
// cookie delivery, one whose cookie browsers would drop. "" when they can.
func (h *Issue) undeliverable(identity string, claims map[string]any, auth *token.Authentication) string {
	var with token.Authentication
	if auth != nil {
		with = *auth
	}
	for _, typ := range []string{token.TypeAccess, token.TypeRefresh} {
		m, err := h.app.minter.Mint(token.Request{Type: typ, Identity: identity, Fresh: typ == token.TypeAccess, Claims: claims, CSRF: h.deliverCookie && h.app.csrf.protect, Auth: with})
		if err != nil {
			return "minting with the app's identity and claims failed: " + err.Error()
		}
		if _, e := h.app.verifier.Parse(m.Raw, h.app.ring.Current()); e != nil {
			return fmt.Sprintf("a %s token with the app's identity and claims (%d bytes) would be refused: %s", typ, len(m.Raw), e.Msg)
		}
		if h.deliverCookie {
			ck := &h.app.cookies
			path := ck.accessPath
			if typ == token.TypeRefresh {
				path = ck.refreshPath
			}
			// the cookie as set, Secure and Max-Age included at their longest
			c := &http.Cookie{Name: ck.name(typ), Value: m.Raw, Path: path, Domain: ck.domain, MaxAge: int(m.TTL / time.Second),
				HttpOnly: true, Secure: true, SameSite: ck.sameSite}
			if n := len(c.String()); n > maxCookieBytes {
				return fmt.Sprintf("a %s token with the app's identity and claims would make a %d-byte cookie, which browsers drop (at most %d)", typ, n, maxCookieBytes)
			}
		}
	}
	return ""
}

// serveDelegatedCredentials is a delegated login (withRefresh) or reauth:
// the body is read and checked as for a local login, the throttle reserves
// the attempt, and the request goes on to the app with its body intact and
// without client-sent X-Jwt-* headers. The app's answer decides.
func (h *Issue) serveDelegatedCredentials(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, withRefresh bool) error {
	fields, e := readBodyFields(w, r, credentialFieldNames, true)
	if e != nil {
		return h.refuse(w, r, e)
	}
	attempt, ok, err := h.admit(w, r, fields["username"], false, withRefresh)
	if !ok {
		return err
	}
	strip(r)
	r.Header[hdrIssueRoute] = []string{routeKind(withRefresh)}
	answer, err := askUpstream(w, r, next)
	if err != nil || !answer.vouched() {
		if answer.failedLogin(h.failedStatus) {
			h.reportLoginFailed(r, fields["username"], withRefresh, "refused_upstream")
			h.app.metrics.countLoginFailure() // the attempt counts as a failure
		} else {
			attempt.Refund() // the app judged no password
			if err == nil && answer.status/100 == 2 {
				h.warnNoIdentity(routeKind(withRefresh))
			}
		}
		return err
	}
	var auth token.Authentication
	identity, claims, reason := h.vouchedUser(answer, &auth)
	if reason != "" {
		attempt.Refund()
		return h.badUpstream(w, r, reason)
	}
	attempt.Succeeded()
	return h.issueLogin(w, r, identity, claims, auth, withRefresh)
}

// confirmRefresh asks the app whether the refresh token's user may still
// refresh: the request goes on with the verified identity and claims in
// X-Jwt-Identity, X-Jwt-Claims, ... as jwt_auth publishes them. It returns
// the claims to mint with (the app's, else the refresh token's), or done
// with what ServeHTTP returns when the app's answer went to the client or
// was refused.
func (h *Issue) confirmRefresh(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, tok *token.Verified) (claims map[string]any, done bool, err error) {
	strip(r)
	publish(r, nil, tok, tok.IsFresh(h.app.now()))
	r.Header[hdrIssueRoute] = []string{"refresh"}
	answer, err := askUpstream(w, r, next)
	if err != nil || !answer.vouched() {
		return nil, true, err
	}
	// a refresh keeps the login's auth_time, amr and acr: the app's
	// X-Jwt-Issue-Amr and -Acr are not read here
	identity, claims, reason := h.vouchedUser(answer, nil)
	switch {
	case reason != "":
		return nil, true, h.badUpstream(w, r, reason)
	case identity != tok.Identity:
		return nil, true, h.badUpstream(w, r, "X-Jwt-Issue-Identity names another identity than the refresh token's")
	case claims == nil:
		claims = ownClaims(tok, h.app.IdentityClaim)
	}
	return claims, false, nil
}

// warnNoIdentity warns, once per route, that the app answered a
// delegated login or reauth with 2xx but without X-Jwt-Issue-Identity: its
// answer went to the client and nothing was minted, which is what an app
// that still mints its own tokens does.
func (h *Issue) warnNoIdentity(route string) {
	once := &h.noIdentityWarned[0]
	if route == "reauth" {
		once = &h.noIdentityWarned[1]
	}
	once.Do(func() {
		h.logger.Warn("the app answered a delegated "+route+" with 2xx but without X-Jwt-Issue-Identity, so its answer went to the client and no token was minted; "+
			"if the app still mints its own tokens (an unchanged flask-jwt-extended login view), make it answer with X-Jwt-Issue-Identity instead",
			zap.String("route", route))
	})
}

// badUpstream answers 502 when the app's identity or claims cannot be
// used, and logs why (never a token or a password).
func (h *Issue) badUpstream(w http.ResponseWriter, r *http.Request, reason string) error {
	h.logger.Error("the app's answer to a delegated route cannot be used", zap.String("reason", reason),
		zap.String("path", r.URL.Path), zap.String("remote_ip", clientIP(r)))
	return h.refuse(w, r, errBadUpstreamIdentity)
}
