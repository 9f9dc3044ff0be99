package jwtextended

// Delegated routes (`login <path> upstream`, `reauth <path> upstream`,
// `refresh <path> upstream`): the app behind Caddy says who the user is,
// Caddy does the rest. jwt_issue passes the request on to the next handler
// (typically reverse_proxy to the app) and reads its answer:
//
//   - 2xx with X-Jwt-Issue-Identity: the identity, and the claims of the
//     optional X-Jwt-Issue-Claims (one JSON object); nothing of the app's
//     answer reaches the client, and Caddy mints and delivers the tokens;
//   - anything else passes through to the client unchanged (without its
//     X-Jwt-Issue-* headers), and nothing is minted; 401 and 403 count as
//     a failed login for the throttle;
//   - an app that cannot be reached, or a 5xx, passes through as
//     reverse_proxy reports it.

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
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
	// identity is set when the app vouched for a user (2xx with
	// X-Jwt-Issue-Identity): its answer was kept from the client.
	identity string
	// header is the app's header, for the claims.
	header http.Header
}

// vouched reports whether the app vouched for a user.
func (a upstreamAnswer) vouched() bool { return a.identity != "" }

// failedLogin reports whether the app refused the credentials (401, 403).
func (a upstreamAnswer) failedLogin() bool {
	return a.status == http.StatusUnauthorized || a.status == http.StatusForbidden
}

// askUpstream passes r on to next and reads the answer. An answer that
// vouches for a user is kept from the client; any other is passed through
// to w as it comes (streamed, never buffered), without the X-Jwt-Issue-*
// headers. err is next's error (reverse_proxy's when the app cannot be
// reached), for Caddy to report.
func askUpstream(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (upstreamAnswer, error) {
	u := &upstreamInterceptor{client: w, header: http.Header{}}
	err := next.ServeHTTP(u, r)
	return upstreamAnswer{status: u.status, identity: u.identity, header: u.header}, err
}

// upstreamInterceptor is the ResponseWriter the next handler writes a
// delegated route's answer to. It decides at WriteHeader: a 2xx with an
// identity is kept (its body discarded), anything else goes to the client.
type upstreamInterceptor struct {
	client   http.ResponseWriter
	header   http.Header
	status   int
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
		u.identity = strings.Join(ids, ",")
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

// vouchedUser checks the identity and claims the app vouched with. reason
// says what is wrong, for the log; the client only reads
// errBadUpstreamIdentity.
func (h *Issue) vouchedUser(a upstreamAnswer) (identity string, claims map[string]any, reason string) {
	identity = a.identity
	switch {
	case len(a.header.Values(hdrIssueIdentity)) > 1:
		return "", nil, "several X-Jwt-Issue-Identity headers"
	case len(identity) > maxIssueIdentity:
		return "", nil, "X-Jwt-Issue-Identity is longer than 256 bytes"
	case strictjson.HasControlChar(identity) || strings.TrimSpace(identity) != identity:
		return "", nil, "X-Jwt-Issue-Identity holds control characters or surrounding space"
	}
	vals := a.header.Values(hdrIssueClaims)
	switch {
	case len(vals) == 0:
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
		if token.Reserved(name) || name == h.app.IdentityClaim {
			return "", nil, "X-Jwt-Issue-Claims sets " + name + ", which the module sets itself"
		}
	}
	return identity, m, ""
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
	var attempt *users.Attempt
	if h.throttle != nil {
		var wait time.Duration
		var ok bool
		if attempt, wait, ok = h.throttle.Attempt(fields["username"], clientIP(r)); !ok {
			h.reportLoginFailed(r, fields["username"], withRefresh, "throttled")
			return h.throttled(w, r, wait)
		}
	}
	strip(r)
	r.Header[hdrIssueRoute] = []string{routeKind(withRefresh)}
	answer, err := askUpstream(w, r, next)
	if err != nil || !answer.vouched() {
		if answer.failedLogin() {
			h.reportLoginFailed(r, fields["username"], withRefresh, "refused_upstream")
			h.app.metrics.countLoginFailure() // the attempt counts as a failure
		} else {
			attempt.Refund() // the app judged no password
		}
		return err
	}
	identity, claims, reason := h.vouchedUser(answer)
	if reason != "" {
		attempt.Refund()
		return h.badUpstream(w, r, reason)
	}
	attempt.Succeeded()
	return h.issueLogin(w, r, identity, claims, withRefresh)
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
	identity, claims, reason := h.vouchedUser(answer)
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

// badUpstream answers 502 when the app's identity or claims cannot be
// used, and logs why (never a token or a password).
func (h *Issue) badUpstream(w http.ResponseWriter, r *http.Request, reason string) error {
	h.logger.Error("the app's answer to a delegated route cannot be used", zap.String("reason", reason),
		zap.String("path", r.URL.Path), zap.String("remote_ip", clientIP(r)))
	return h.refuse(w, r, errBadUpstreamIdentity)
}
