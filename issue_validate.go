package jwtextended

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
)

// Validate refuses configurations that cannot work, naming the setting
// and the fix: first the settings as written, then, once provisioned,
// what Provision resolved.
func (h *Issue) Validate() error {
	if err := h.validateRoutes(); err != nil {
		return err
	}
	if err := h.validateOIDC(); err != nil {
		return err
	}
	if err := h.validatePasskey(); err != nil {
		return err
	}
	if h.app == nil {
		return nil // not provisioned: only the settings themselves are checked
	}
	if h.rotateGrace < minRotateGrace {
		return fmt.Errorf("jwt_issue: rotate_grace must be at least %s (got %s): it is also how often a family may rotate and write to storage", minRotateGrace, h.rotateGrace)
	}
	if h.badDeliver != "" {
		return fmt.Errorf("jwt_issue: deliver %q is not valid; use json and/or cookie", h.badDeliver)
	}
	if h.deliverCookie && len(h.TokenFrom) > 0 && !h.auth.readsCookies() {
		words := sourceWords(*h.auth.sources)
		return fmt.Errorf("jwt_issue: deliver cookie sets the tokens as cookies, but this jwt_issue's token_from (%s) does not read cookies, "+
			"so its refresh and logout routes would never find them; add cookie to it (e.g. `token_from %s cookie`) or remove it", words, words)
	}
	if c := h.throttleCfg; c.MaxPerUser < 0 || c.MaxPerIP < 0 || c.Window < 0 || c.Capacity < 0 {
		return errors.New("jwt_issue: throttle values must not be negative")
	}
	if h.Login != "" || h.Refresh != "" || h.Reauth != "" || len(h.OIDC) > 0 || h.Passkey != nil {
		// a verify-only app (e.g. jwks_url alone) cannot mint: say so at load
		if _, err := h.app.ring.Signer(); err != nil {
			return fmt.Errorf("jwt_issue: %v", err)
		}
	}
	if h.JWKS != "" && !publishesKeys(h.app) {
		return fmt.Errorf("jwt_issue: the jwks route %s would publish no key: the jwt app has only HMAC secrets, which are never published; "+
			"remove the jwks route, or sign with an asymmetric key (private_key, or no key at all for the generated ES256 key)", h.JWKS)
	}
	return h.checkCookiePaths()
}

// validateRoutes checks the routes, their paths, the users and the
// settings that only make sense with one another.
func (h *Issue) validateRoutes() error {
	routes := map[string]string{}
	named := []struct{ name, path string }{
		{"login", h.Login}, {"refresh", h.Refresh}, {"reauth", h.Reauth}, {"logout", h.Logout}, {"jwks", h.JWKS},
	}
	for _, o := range h.OIDC {
		named = append(named, []struct{ name, path string }{
			{"oidc " + o.Name + " login", o.Login}, {"oidc " + o.Name + " callback", o.Callback}, {"oidc " + o.Name + " reauth", o.Reauth},
		}...)
	}
	if h.Passkey != nil {
		named = append(named, h.Passkey.paths()...)
	}
	for _, r := range named {
		if r.path == "" {
			continue
		}
		if !strings.HasPrefix(r.path, "/") {
			return fmt.Errorf("jwt_issue: %s path %q must start with /", r.name, r.path)
		}
		// routes own their path up to case and one trailing slash
		key := strings.ToLower(trimOneSlash(r.path))
		if other, dup := routes[key]; dup {
			return fmt.Errorf("jwt_issue: %s and %s share the path %q; give each route its own path", other, r.name, r.path)
		}
		routes[key] = r.name
	}
	if len(routes) == 0 {
		return errors.New("jwt_issue: no route configured; set at least one of login, refresh, reauth, logout, jwks, oidc, passkey")
	}
	paths := map[string]string{"login": h.Login, "refresh": h.Refresh, "reauth": h.Reauth}
	seen := map[string]bool{}
	for _, route := range h.Upstream {
		path, ok := paths[route]
		switch {
		case !ok:
			return fmt.Errorf("jwt_issue: upstream %q is not a route that can be delegated; use login, reauth or refresh", route)
		case path == "":
			return fmt.Errorf("jwt_issue: upstream %s, but there is no %s route; add `%s <path> upstream`", route, route, route)
		case seen[route]:
			return fmt.Errorf("jwt_issue: upstream %s is given twice", route)
		}
		seen[route] = true
	}
	local := h.checksPasswords()
	hasUsers := len(h.Users) > 0 || h.UsersFile != ""
	switch {
	case local && !hasUsers:
		return errors.New("jwt_issue: login and reauth need users; add `user <name> <bcrypt-hash>` lines (make a hash with `caddy hash-password`) or users_file, or delegate them to the app behind Caddy with `login <path> upstream`")
	case !local && hasUsers:
		return errors.New("jwt_issue: user and users_file would never be consulted: no login or reauth route of this jwt_issue checks passwords here (they are delegated with upstream, or absent); " +
			"remove the user lines and users_file, or drop upstream from login or reauth")
	case h.LogoutAll && h.Logout == "":
		return errors.New("jwt_issue: logout_all needs a logout route; write `logout <path> all`")
	case h.RotateGrace != "" && !h.RotateRefresh:
		return errors.New("jwt_issue: rotate_grace applies only to rotated refresh tokens; add rotate_refresh, or remove rotate_grace")
	}
	if len(h.FailedStatus) > 0 && !seen["login"] && !seen["reauth"] {
		return errors.New("jwt_issue: failed_status counts the app's answers to a delegated login or reauth, and none is delegated; remove it, or write `login <path> upstream`")
	}
	for _, st := range h.FailedStatus {
		if st < 200 || st > 599 {
			return fmt.Errorf("jwt_issue: failed_status %d is not an HTTP status of an answer; use statuses such as 401 403 (or 200 and 302 for apps that answer a failed form login so)", st)
		}
	}
	return nil
}

// validateOIDC checks the oidc blocks.
func (h *Issue) validateOIDC() error {
	names := map[string]bool{}
	for _, o := range h.OIDC {
		prefix := "jwt_issue: oidc " + o.Name
		switch {
		case !validOIDCName(o.Name):
			return fmt.Errorf("jwt_issue: oidc name %q must be 1 to 64 letters, digits, '-' or '_' (it names the transaction cookie and the tokens' idp claim)", o.Name)
		case names[o.Name]:
			return fmt.Errorf("jwt_issue: oidc %s is given twice; give each provider its own name", o.Name)
		case o.Issuer == "":
			return fmt.Errorf("%s: issuer is required: the provider's issuer URL, e.g. https://accounts.google.com", prefix)
		case o.ClientID == "":
			return fmt.Errorf("%s: client_id is required: this site's client id at the provider", prefix)
		case o.Callback == "":
			return fmt.Errorf("%s: callback is required: the path the provider sends the browser back to (register https://<site><callback> as the redirect URI)", prefix)
		case o.Login == "" && o.Reauth == "":
			return fmt.Errorf("%s: neither login nor reauth is set, so the provider would never be used; add `login <path>` and/or `reauth <path>`", prefix)
		}
		names[o.Name] = true
		if err := checkIssuerURL(o.Issuer); err != nil {
			return fmt.Errorf("%s: issuer %v", prefix, err)
		}
		for _, origin := range o.ReturnTo {
			if !isOrigin(origin) {
				return fmt.Errorf("%s: return_to %q is not an origin; write scheme://host[:port], e.g. https://app.example.com, without a path", prefix, origin)
			}
		}
		for _, c := range o.Claims {
			if c == "" || claimSetByModule(c, h.identityClaim()) || strictjson.Fold(c) == claimIdP {
				return fmt.Errorf("%s: claims %q names a claim the module sets itself (such as sub, fresh, auth_time, amr, acr, idp or the identity claim), up to case; remove it", prefix, c)
			}
		}
	}
	if len(h.OIDC) == 0 {
		return nil
	}
	if h.app != nil && !h.deliverCookie {
		return errors.New("jwt_issue: oidc signs a browser in and sends it back with 303, so its tokens can only be delivered as cookies; add `deliver cookie` (or `deliver json cookie`)")
	}
	for _, u := range h.Users {
		for c := range u.Claims {
			if strictjson.Fold(c) == claimIdP {
				return fmt.Errorf("jwt_issue: user %s has the claim idp, which marks a session that began with an oidc block; rename it", u.Name)
			}
		}
	}
	if h.app != nil {
		for _, o := range h.OIDC {
			if o.Reauth != "" && !cookiePathMatch(h.app.cookies.accessPath, o.Reauth) {
				return fmt.Errorf("jwt: cookie access_path %s does not cover the oidc %s reauth route %s, so browsers would not send the session's access token there; "+
					"set access_path to a path above both, or move the route under it", h.app.cookies.accessPath, o.Name, o.Reauth)
			}
		}
	}
	return nil
}

// identityClaim is the app's identity claim, or the default before
// Provision.
func (h *Issue) identityClaim() string {
	if h.app != nil && h.app.IdentityClaim != "" {
		return h.app.IdentityClaim
	}
	return "sub"
}

// validOIDCName: letters, digits, '-' and '_', at most 64.
func validOIDCName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkIssuerURL accepts an https URL without query or fragment, or http
// on a loopback host (a provider on the same machine, or a test).
func checkIssuerURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil:
		return fmt.Errorf("%q is not an absolute URL such as https://accounts.google.com", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must not have a query or fragment", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must be https (http only on a loopback host such as 127.0.0.1): the ID token's keys come from it", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isOrigin reports whether s is scheme://host[:port] with scheme http or
// https, and nothing else.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "" && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "#")
}

// publishesKeys reports whether the app has a key of its own that its
// JWK Set publishes (an asymmetric one).
func publishesKeys(a *App) bool {
	for _, k := range a.ring.Local() {
		switch k.Material.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			return true
		}
	}
	return false
}

// checkCookiePaths refuses a refresh cookie (or its CSRF cookie) whose
// Path does not cover the refresh and logout routes: the browser would
// not send it there, so logout would leave the refresh cookie working.
func (h *Issue) checkCookiePaths() error {
	if !h.deliverCookie {
		return nil
	}
	c := &h.app.cookies
	cookies := []struct{ setting, path string }{{"refresh_path", c.refreshPath}}
	if c.csrfCookies() {
		cookies = append(cookies, struct{ setting, path string }{"csrf_refresh_path", c.csrfRefreshPath})
	}
	for _, ck := range cookies {
		for _, rt := range []struct{ name, path, then string }{
			{"refresh", h.Refresh, ""},
			{"logout", h.Logout, " and logout would leave it working"},
		} {
			if rt.path != "" && !cookiePathMatch(ck.path, rt.path) {
				return fmt.Errorf("jwt: cookie %s %s does not cover the %s route %s, so browsers would not send the refresh cookie there%s; "+
					"set %s to a path both routes are under (e.g. %s), or move the routes under it",
					ck.setting, ck.path, rt.name, rt.path, rt.then, ck.setting, commonCookiePath(h.Refresh, h.Logout))
			}
		}
	}
	return nil
}

// cookiePathMatch is RFC 6265's path-match: a cookie with Path cookiePath
// is sent with a request for reqPath.
func cookiePathMatch(cookiePath, reqPath string) bool {
	return reqPath == cookiePath || (strings.HasPrefix(reqPath, cookiePath) &&
		(strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/'))
}

// commonCookiePath is the longest path both routes are under, for the
// fix a refusal suggests.
func commonCookiePath(a, b string) string {
	if b == "" {
		b = a
	}
	if a == "" {
		a = b
	}
	pa, pb := strings.Split(a, "/"), strings.Split(b, "/")
	var common []string
	for i := 0; i < len(pa)-1 && i < len(pb)-1 && pa[i] == pb[i]; i++ {
		common = append(common, pa[i])
	}
	return strings.Join(common, "/") + "/"
}
