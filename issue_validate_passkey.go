package jwtextended

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// validatePasskey checks the passkey block: first its settings, then,
// once provisioned, that the pages can reach the session's access token
// where the routes need it.
func (h *Issue) validatePasskey() error {
	p := h.Passkey
	if p == nil {
		return nil
	}
	const prefix = "jwt_issue: passkey"
	if p.Register == "" && p.Login == "" && p.Reauth == "" && p.Credentials == "" {
		return fmt.Errorf("%s: no route is set, so passkeys would never be used; add register, login, reauth and/or credentials with a path each", prefix)
	}
	switch p.UserVerification {
	case "", "required", "preferred":
	default:
		return fmt.Errorf("%s: user_verification %q is not valid; use required (the default) or preferred", prefix, p.UserVerification)
	}
	for _, r := range []struct{ name, path string }{{"register", p.Register}, {"login", p.Login}, {"reauth", p.Reauth}, {"credentials", p.Credentials}} {
		if r.path != "" && (r.path == "/" || strings.HasSuffix(r.path, "/")) {
			return fmt.Errorf("%s: %s path %q must not end with /; write it without (the begin and finish routes are <path>/begin and <path>/finish)", prefix, r.name, r.path)
		}
	}
	rpID := p.RPID
	if rpID != "" {
		if err := checkRPID(rpID); err != nil {
			return fmt.Errorf("%s: rp_id %v", prefix, err)
		}
	}
	for _, o := range p.Origins {
		host, err := passkeyOrigin(o)
		if err != nil {
			return fmt.Errorf("%s: origins %v", prefix, err)
		}
		if rpID != "" && host != rpID && !strings.HasSuffix(host, "."+rpID) {
			return fmt.Errorf("%s: origin %s is not on rp_id %s: an origin's host must be the rp_id or a subdomain of it (browsers refuse the ceremony otherwise); "+
				"set rp_id to a domain both share, or remove the origin", prefix, o, rpID)
		}
	}
	if h.app == nil || h.auth == nil {
		return nil // not provisioned yet: only the settings are checked
	}
	// register, reauth and credentials read the session's access token
	for _, r := range []struct{ name, path string }{
		{"register", p.Register + "/begin"}, {"reauth", p.Reauth + "/begin"}, {"credentials", p.Credentials},
	} {
		if r.path == "/begin" || r.path == "" {
			continue
		}
		if h.deliverCookie {
			if !cookiePathMatch(h.app.cookies.accessPath, r.path) {
				return fmt.Errorf("jwt: cookie access_path %s does not cover the passkey %s route %s, so browsers would not send the session's access token there; "+
					"set access_path to a path above both, or move the route under it", h.app.cookies.accessPath, r.name, r.path)
			}
			continue
		}
		if !hasSource(*h.auth.sources, sourceHeader) {
			return fmt.Errorf("%s: the %s route needs the session's access token, which a page sends in the Authorization header when tokens are delivered as JSON, "+
				"but this jwt_issue's token lookup (%s) does not read the header; add header to token_from, or deliver cookie", prefix, r.name, sourceWords(*h.auth.sources))
		}
	}
	return nil
}

// checkRPID accepts a lower-case domain name that is not a public suffix
// (com, co.uk, github.io), which browsers refuse as an RP ID; localhost
// is a domain.
func checkRPID(rpID string) error {
	switch {
	case strings.ToLower(rpID) != rpID:
		return fmt.Errorf("%q must be lower case: write %s", rpID, strings.ToLower(rpID))
	case net.ParseIP(strings.Trim(rpID, "[]")) != nil:
		return fmt.Errorf("%q is an IP address; passkeys need a domain name (localhost for tests on this machine)", rpID)
	case strings.ContainsAny(rpID, ":/?#@ ") || strings.HasPrefix(rpID, ".") || strings.HasSuffix(rpID, ".") || strings.Contains(rpID, ".."):
		return fmt.Errorf("%q is not a domain name: write the host alone, e.g. example.com, without scheme, port or path", rpID)
	}
	if ps, icann := publicsuffix.PublicSuffix(rpID); ps == rpID && (icann || strings.Contains(rpID, ".")) {
		return fmt.Errorf("%q is a public suffix, which browsers refuse as an RP ID; use your registrable domain, e.g. example.%s", rpID, rpID)
	}
	return nil
}

// passkeyOrigin checks an origin of the passkey block and returns its
// host: scheme://host[:port] exactly as browsers write it (lower case, no
// trailing slash), https, or http on localhost (a secure context).
func passkeyOrigin(o string) (string, error) {
	if !isOrigin(o) || strings.HasSuffix(o, "/") {
		return "", fmt.Errorf("%q is not an origin; write scheme://host[:port], e.g. https://example.com, without a path or trailing slash", o)
	}
	u, _ := url.Parse(o)
	host := u.Hostname()
	if strings.ToLower(o) != o {
		return "", fmt.Errorf("%q must be lower case, as browsers write origins: write %s", o, strings.ToLower(o))
	}
	if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
		return "", fmt.Errorf("%q is http: WebAuthn needs a secure context, so use https (http only on localhost)", o)
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return "", fmt.Errorf("%q has an IP address for host; passkeys need a domain name", o)
	}
	return host, nil
}
