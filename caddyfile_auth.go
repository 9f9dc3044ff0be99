package jwtextended

// The Caddyfile syntax of the jwt_auth directive.

import (
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseAuthDirective sets up the handler from Caddyfile tokens:
//
//	jwt_auth [<matcher>] [fresh_required] [optional] {
//		fresh_required
//		max_age <duration>
//		acr <value>...
//		optional
//		token_type <access|refresh|any>
//		require <claim> <value>...
//		token_from <header|cookie|query|json>...
//		header_name <name>
//		header_type <type>|""
//		query_param <name>
//		json_key    <name>
//		refresh_json_key <name>
//		verify_preflight
//		handle_errors
//	}
func parseAuthDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Auth)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. See
// parseAuthDirective for the syntax.
func (a *Auth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	for d.NextArg() {
		switch d.Val() {
		case "fresh_required":
			a.FreshRequired = true
		case "optional":
			a.Optional = true
		default:
			return d.Errf("unrecognized jwt_auth argument '%s'; expected fresh_required or optional", d.Val())
		}
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "fresh_required":
			err = noArgs(d, &a.FreshRequired)
		case "max_age":
			err = maxAgeArg(d, &a.MaxAge)
		case "acr":
			a.ACR, err = acrArgs(d)
		case "optional":
			err = noArgs(d, &a.Optional)
		case "token_type":
			a.TokenType, err = tokenTypeArg(d)
		case "require":
			var r *ClaimRequirement
			if r, err = requireArgs(d); err == nil {
				a.Require = append(a.Require, *r)
			}
		case "token_from":
			a.TokenFrom, err = tokenFromArgs(d)
		case "header_name", "header_type", "query_param", "json_key", "refresh_json_key":
			err = tokenNameArg(d, &a.TokenLookup)
		case "verify_preflight":
			err = noArgs(d, &a.VerifyPreflight)
		case "handle_errors":
			err = noArgs(d, &a.HandleErrors)
		default:
			return d.Errf("unrecognized jwt_auth subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// tokenTypeArg reads `token_type <access|refresh|any>`.
func tokenTypeArg(d *caddyfile.Dispenser) (string, error) {
	v, err := singleArg(d)
	if err != nil {
		return "", err
	}
	switch {
	case v == token.TypeAccess, v == token.TypeRefresh, v == "any", hasPlaceholder(v):
		return v, nil
	}
	return "", d.Errf("token_type must be access, refresh or any, not '%s'", v)
}

// maxAgeArg reads `max_age <duration>`: a second or more.
func maxAgeArg(d *caddyfile.Dispenser, dst *WeakDuration) error {
	if err := durationArg(d, dst); err != nil {
		return err
	}
	if hasPlaceholder(string(*dst)) {
		return nil
	}
	if dur, _ := dst.parse(); dur < time.Second {
		return d.Errf("max_age must be a second or more, such as 5m; to require a fresh token without an age limit, use fresh_required alone")
	}
	return nil
}

// acrArgs reads `acr <value>...`: values that can stand in the challenge's
// acr_values.
func acrArgs(d *caddyfile.Dispenser) ([]string, error) {
	vals, err := listArgs(d)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if !hasPlaceholder(v) && !isChallengeValue(v) {
			return nil, d.Errf("acr '%s' is not a valid value: use printable ASCII without spaces, quotes or backslashes", v)
		}
	}
	return vals, nil
}

// requireArgs reads `require <claim> <value>...`.
func requireArgs(d *caddyfile.Dispenser) (*ClaimRequirement, error) {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return nil, d.Errf("require takes a claim and at least one value: require <claim> <value>...")
	}
	return &ClaimRequirement{Claim: args[0], Values: args[1:]}, nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Auth)(nil)
