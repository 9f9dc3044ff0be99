package jwtextended

// Passkeys inside jwt_issue: the `passkey { ... }` block adds routes to
// register a passkey (with a fresh access token), sign in with one
// (discoverable credentials, no username), step up with one of the
// session's own, and list or remove them. internal/passkey runs the
// WebAuthn ceremonies (go-webauthn) and keeps the credentials in Caddy's
// storage. The Caddy glue is in three files: this one (the settings, the
// service and the routes), issue_passkey_ceremony.go (the ceremonies and
// their tokens) and issue_passkey_credentials.go (listing and removing).

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/passkey"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// PasskeyConfig is jwt_issue's `passkey { ... }` block: WebAuthn passkeys
// to register, sign in and step up with. Register, reauth and credentials
// act on the session whose access token the request carries (a cookie,
// with its CSRF header on POST and DELETE, or the Authorization header).
type PasskeyConfig struct {
	// The relying party id: a domain that is each origin's host or a
	// parent of it (not a public suffix). Passkeys are bound to it.
	// Default: the request's host, without its port.
	RPID string `json:"rp_id,omitempty"`
	// The site's name, as authenticators show it. Default: the RP ID.
	RPName string `json:"rp_name,omitempty"`
	// The origins (scheme://host[:port]) pages may run a ceremony from;
	// https, or http on localhost. Default: https://<rp_id>.
	Origins []string `json:"origins,omitempty"`
	// Path of the registration routes, POST <path>/begin and POST
	// <path>/finish: add a passkey to the session's identity. Needs a
	// fresh access token; answers 201 with the passkey's id and name.
	Register string `json:"register,omitempty"`
	// Path of the sign-in routes, POST <path>/begin and POST
	// <path>/finish: sign in with a discoverable passkey, no username;
	// answers a fresh access token and a refresh token, as the login
	// route does.
	Login string `json:"login,omitempty"`
	// Path of the step-up routes, POST <path>/begin and POST
	// <path>/finish: with one of the session's own passkeys, a fresh
	// access token in the session's family, as the reauth route does.
	Reauth string `json:"reauth,omitempty"`
	// Path of the credentials route: GET lists the session's passkeys;
	// DELETE ?id=<id> removes one (needs a fresh access token).
	Credentials string `json:"credentials,omitempty"`
	// Whether the authenticator must verify the user (fingerprint, face,
	// PIN): required or preferred. Default: required. Tokens carry amr
	// mfa when it did.
	UserVerification string `json:"user_verification,omitempty"`
}

// passkeyStorage is where the passkey ceremonies and credentials live in
// Caddy's storage.
const passkeyStorage = "jwt/passkey"

// passkeySweepEvery is how often expired ceremonies are swept.
const passkeySweepEvery = 10 * time.Minute

// The amr values of a passkey assertion (RFC 8176): proof of possession
// of a key and a user presence test; mfa when the user was verified too.
const (
	amrPoP  = "pop"
	amrUser = "user"
	amrMFA  = "mfa"
)

// Ceremonies each client IP may begin (register, login, reauth) within
// maxBeginsWindow: every begin writes one to storage, and login/begin
// needs no token, so the storage a client can fill is bounded. Tracked
// for at most users.DefaultCapacity client IPs.
const (
	maxBeginsPerIP  = 30
	maxBeginsWindow = 2 * time.Minute
)

// errTooManyCeremonies refuses a begin past maxBeginsPerIP.
var errTooManyCeremonies = newAuthError(http.StatusTooManyRequests, "throttled", "Too many passkey ceremonies begun")

// passkeyRoutes is the passkey block's service.
type passkeyRoutes struct {
	cfg   *PasskeyConfig
	svc   *passkey.Service
	sweep *sweeper
	// begins counts the ceremonies begun per client IP
	begins *users.Throttle
}

// resolvePasskeyPlaceholders replaces the global placeholders in the
// passkey block's settings.
func (h *Issue) resolvePasskeyPlaceholders() error {
	p := h.Passkey
	if p == nil {
		return nil
	}
	vals := []*string{&p.RPID, &p.RPName, &p.Register, &p.Login, &p.Reauth, &p.Credentials, &p.UserVerification}
	vals = append(vals, pointers(p.Origins)...)
	if err := resolveEach("passkey", vals...); err != nil {
		return fmt.Errorf("jwt_issue: %v", err)
	}
	return nil
}

// provisionPasskey builds the passkey service on Caddy's storage.
func (h *Issue) provisionPasskey(ctx caddy.Context) error {
	h.passkey = nil
	p := h.Passkey
	if p == nil {
		return nil
	}
	if err := h.validatePasskey(); err != nil {
		return err
	}
	svc, err := passkey.New(passkey.Config{
		RPID: strings.ToLower(p.RPID), RPName: p.RPName, Origins: p.Origins,
		UserVerification: p.UserVerification, Now: h.app.clock,
	}, ctx.Storage(), passkeyStorage)
	if err != nil {
		return fmt.Errorf("jwt_issue: passkey: %v", err)
	}
	h.passkey = &passkeyRoutes{cfg: p, svc: svc,
		sweep:  &sweeper{every: passkeySweepEvery, what: "expired passkey ceremonies", sweep: svc.Sweep},
		begins: users.NewThrottle(users.ThrottleLimits{MaxPerUser: 1, MaxPerIP: maxBeginsPerIP, Window: maxBeginsWindow}, h.app.clock)}
	return nil
}

// beginAllowed counts a ceremony begun from the request's client IP, and
// refuses it with 429 and Retry-After past maxBeginsPerIP.
func (h *Issue) beginAllowed(w http.ResponseWriter, r *http.Request) (bool, error) {
	return h.admitPerIP(w, r, h.passkey.begins, errTooManyCeremonies)
}

// passkeyPaths are the passkey block's routes and their paths.
func (p *PasskeyConfig) paths() []struct{ name, path string } {
	var out []struct{ name, path string }
	for _, r := range []struct{ name, path string }{{"register", p.Register}, {"login", p.Login}, {"reauth", p.Reauth}} {
		if r.path != "" {
			base := strings.TrimSuffix(r.path, "/")
			out = append(out, struct{ name, path string }{"passkey " + r.name + " begin", base + "/begin"},
				struct{ name, path string }{"passkey " + r.name + " finish", base + "/finish"})
		}
	}
	if p.Credentials != "" {
		out = append(out, struct{ name, path string }{"passkey credentials", p.Credentials})
	}
	return out
}

// passkeyRouteList is the routes of the passkey block, for prepareRoutes.
func (h *Issue) passkeyRouteList() []issueRoute {
	pk := h.passkey
	if pk == nil {
		return nil
	}
	post := func(name, path string, serve func(http.ResponseWriter, *http.Request, caddyhttp.Handler) error) []issueRoute {
		if path == "" {
			return nil
		}
		return []issueRoute{{name: name, path: path, serve: serve}}
	}
	var routes []issueRoute
	for _, r := range []struct {
		kind, path    string
		begin, finish func(http.ResponseWriter, *http.Request, caddyhttp.Handler) error
	}{
		{"register", pk.cfg.Register, h.servePasskeyRegisterBegin, h.servePasskeyRegisterFinish},
		{"login", pk.cfg.Login, h.servePasskeyLoginBegin, h.servePasskeyLoginFinish},
		{"reauth", pk.cfg.Reauth, h.servePasskeyReauthBegin, h.servePasskeyReauthFinish},
	} {
		if r.path == "" {
			continue
		}
		base := strings.TrimSuffix(r.path, "/")
		routes = append(routes, post("passkey "+r.kind+" begin", base+"/begin", r.begin)...)
		routes = append(routes, post("passkey "+r.kind+" finish", base+"/finish", r.finish)...)
	}
	if pk.cfg.Credentials != "" {
		routes = append(routes, issueRoute{name: "passkey credentials", path: pk.cfg.Credentials, get: true, del: true,
			serve: func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
				return h.servePasskeyCredentials(w, r)
			}})
	}
	return routes
}

// passkeySession is the session a register, reauth or credentials
// request acts on: its access token, issued here; fresh when asked.
func (h *Issue) passkeySession(r *http.Request, fresh bool) (*token.Verified, *authError) {
	tok, e := h.sessionToken(r)
	if e != nil {
		return nil, e
	}
	if fresh && !tok.IsFresh(h.app.now()) {
		return nil, errStepUp
	}
	return tok, nil
}
