package jwtextended

// The operations log of the issuer: one info line per login, reauth and
// failed login, in a stable form that fail2ban can match (docs/issuer.md,
// "Logs and fail2ban"), and one info line per key at startup. Never a
// password, a token or key material.

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"go.uber.org/zap"
)

// Messages of the login log lines. They are an interface (fail2ban
// filters match them): change them only with docs/issuer.md.
const (
	msgLoginSucceeded = "login succeeded"
	msgLoginFailed    = "login failed"
)

// maxLoggedUsername bounds the username a failed login logs: it is the
// client's text, and a log line is no place for 64 KiB of it.
const maxLoggedUsername = 128

// routeKind names a credentials route in logs and events.
func routeKind(withRefresh bool) string {
	if withRefresh {
		return "login"
	}
	return "reauth"
}

// reportLogin logs a successful login or reauth, local or delegated, and
// emits jwt_login with the access token's jti. The client IP comes right
// after the message, so that a filter anchored on the message cannot be
// fooled by an identity that looks like a field.
func (h *Issue) reportLogin(r *http.Request, identity string, withRefresh bool, jti string) {
	ip := clientIP(r)
	h.app.events.emit(eventLogin, eventData{Identity: identity, JTI: jti, RemoteIP: ip, Route: routeKind(withRefresh)})
	h.logger.Info(msgLoginSucceeded,
		zap.String("remote_ip", ip),
		zap.String("identity", identity),
		zap.String("route", routeKind(withRefresh)),
		zap.String("path", r.URL.Path))
}

// reportLoginFailed logs a failed login or reauth and emits
// jwt_login_failed: wrong credentials, the app behind Caddy refused them
// (delegated), or the throttle refused the attempt. remote_ip comes first,
// before the client's own text.
func (h *Issue) reportLoginFailed(r *http.Request, username string, withRefresh bool, reason string) {
	ip, name := clientIP(r), loggedUsername(username)
	h.app.events.emit(eventLoginFailed, eventData{Identity: name, RemoteIP: ip, Route: routeKind(withRefresh), Reason: reason})
	h.logger.Info(msgLoginFailed,
		zap.String("remote_ip", ip),
		zap.String("username", name),
		zap.String("route", routeKind(withRefresh)),
		zap.String("path", r.URL.Path),
		zap.String("reason", reason))
}

// loggedUsername is a username as a log line shows it: at most
// maxLoggedUsername bytes of valid UTF-8.
func loggedUsername(s string) string {
	if len(s) > maxLoggedUsername {
		n := maxLoggedUsername
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// logKeys logs one line per key at startup: its algorithm, kid and where
// it came from (the setting or file, the generated key's storage path, a
// jwks_url), never the key itself.
func logKeys(logger *zap.Logger, ring *keys.Ring, jwksURLs []string) {
	for _, k := range ring.Local() {
		logger.Info("key loaded", zap.String("alg", k.Alg), zap.String("kid", k.KID), zap.String("source", k.Source))
	}
	for _, u := range jwksURLs {
		// the set's keys arrive in the background; each carries its own
		// algorithm and kid
		logger.Info("key set configured", zap.String("source", "jwks_url "+u))
	}
}
