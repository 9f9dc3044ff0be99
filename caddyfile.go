// The Caddyfile syntax of the jwt global option and the jwt_auth and
// jwt_issue directives.
//
// One name per setting: a Caddyfile word is the JSON key of the setting it
// sets (`revocation_sync 4s` is "revocation_sync": 4000000000), and every
// JSON setting can be set from the Caddyfile. The one rule for lists: a
// subdirective that may be repeated, each line adding one item named by a
// singular noun, fills a list under the plural of that noun, as Caddy's
// basic_auth account lines fill "accounts":
//
//	public_key -> public_keys, jwks_url -> jwks_urls, user -> users
//
// Any other word is its own key, also when its value is a list: words that
// already name a list or take several values on one line (audience,
// token_from, deliver) and verbs (require, one requirement per line).
// Positional arguments fill the fields of their item (private_key
// <pem-file> [<kid>] is {"file", "kid"}); the throttle's inline arguments
// are a shorthand for its block's first three settings, and `throttle off`
// is "disabled": true, as Caddy writes `off` for a switch.
//
// Every value may hold placeholders such as {env.LEEWAY}: text settings
// keep them as they are, and a number, duration or switch setting that
// holds one is kept as text and resolved at Provision (see weak.go).

package jwtextended

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("jwt", parseGlobalOption)
	httpcaddyfile.RegisterDirective("jwt_issue", guardedDirective(parseIssueDirective))
	httpcaddyfile.RegisterDirective("jwt_auth", guardedDirective(parseAuthDirective))
	httpcaddyfile.RegisterHandlerDirective("jwt_strip", parseStripDirective)
	// jwt_issue first (its routes must answer before jwt_auth guards the
	// same site), then jwt_auth, both before basic_auth: no `order` line
	// or `route` block is needed. jwt_strip, written by hand, comes before
	// every other handler of its site.
	httpcaddyfile.RegisterDirectiveOrder("jwt_issue", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_auth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_strip", httpcaddyfile.Before, "tracing")
}

// guardedDirective sets up a jwt_auth or jwt_issue route as Caddy's
// handler directives do, and when the directive has a matcher, adds a
// jwt_strip route without one: a request the handler does not match still
// loses its client-sent X-Jwt-* headers there, at the handler's place in
// the directive order, ahead of every handler that passes a request on
// (handle, route, reverse_proxy, ...).
func guardedDirective(setup httpcaddyfile.UnmarshalHandlerFunc) httpcaddyfile.UnmarshalFunc {
	return func(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
		if !h.Next() {
			return nil, h.ArgErr()
		}
		matcherSet, err := h.ExtractMatcherSet()
		if err != nil {
			return nil, err
		}
		handler, err := setup(h)
		if err != nil {
			return nil, err
		}
		route := h.NewRoute(matcherSet, handler)
		if matcherSet == nil {
			return route, nil
		}
		return append(h.NewRoute(nil, Strip{}), route...), nil
	}
}

// parseStripDirective sets up jwt_strip, which takes no arguments:
//
//	jwt_strip
func parseStripDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() || h.NextBlock(0) {
		return nil, h.Err("jwt_strip takes no arguments and no block")
	}
	return Strip{}, nil
}

// singleArg reads exactly one argument for the current setting.
func singleArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// singleArgTo reads exactly one argument for the current setting into dst.
func singleArgTo(d *caddyfile.Dispenser, dst *string) error {
	v, err := singleArg(d)
	if err == nil {
		*dst = v
	}
	return err
}

// noArgs reads a flag setting, which takes no argument.
func noArgs(d *caddyfile.Dispenser, dst *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

// listArgs reads one or more arguments.
func listArgs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return args, nil
}

// durationArg reads `<setting> <duration>`, a duration not below 0, into
// dst. A value that holds a placeholder is kept as text in ph, under the
// setting's name (which is its JSON key), for Provision to resolve.
func durationArg(d *caddyfile.Dispenser, dst *WeakDuration) error {
	setting := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return err
	}
	if hasPlaceholder(v) {
		*dst = WeakDuration(v)
		return nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return d.Errf("%s: %v", setting, err)
	}
	if dur < 0 {
		return d.Errf("%s must not be negative", setting)
	}
	*dst = weakDuration(dur)
	return nil
}

// nonEmptyArgTo reads exactly one argument, which must not be empty.
func nonEmptyArgTo(d *caddyfile.Dispenser, dst *string) error {
	setting := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return err
	}
	if v == "" {
		return d.Errf("%s must not be empty", setting)
	}
	*dst = v
	return nil
}

// tokenNameArg reads one of the names tokens are looked up under:
// `header_name <name>`, `header_type <type>` (`header_type ""` reads the
// whole header value as the token), `query_param <name>`, `json_key
// <name>` or `refresh_json_key <name>`.
func tokenNameArg(d *caddyfile.Dispenser, l *TokenLookup) error {
	setting := d.Val()
	if setting == "header_type" {
		v, err := singleArg(d)
		if err != nil {
			return err
		}
		if !hasPlaceholder(v) {
			if err := checkTokenNames("", "", &v); err != nil {
				return d.Err(err.Error())
			}
		}
		l.HeaderType = &v
		return nil
	}
	dst := map[string]*string{"header_name": &l.HeaderName, "query_param": &l.QueryParam, "json_key": &l.JSONKey, "refresh_json_key": &l.RefreshJSONKey}[setting]
	if err := nonEmptyArgTo(d, dst); err != nil {
		return err
	}
	if setting == "header_name" && !hasPlaceholder(*dst) {
		if err := checkTokenNames("", *dst, nil); err != nil {
			return d.Err(err.Error())
		}
	}
	return nil
}

// tokenFromArgs reads `token_from <header|cookie|query|json>...`.
func tokenFromArgs(d *caddyfile.Dispenser) ([]string, error) {
	args, err := listArgs(d)
	if err != nil {
		return nil, err
	}
	for i, w := range args {
		if hasPlaceholder(w) {
			return args, nil // checked once resolved, at Provision
		}
		args[i] = strings.ToLower(w)
	}
	if _, err := parseTokenSources("token_from", args); err != nil {
		return nil, d.Err(err.Error())
	}
	return args, nil
}

// wordArg reads a setting that takes one of words (or a placeholder,
// checked at Provision).
func wordArg(d *caddyfile.Dispenser, dst *string, setting string, words ...string) error {
	v, err := singleArg(d)
	if err != nil {
		return err
	}
	for _, w := range words {
		if strings.EqualFold(v, w) {
			*dst = w
			return nil
		}
	}
	if hasPlaceholder(v) {
		*dst = v
		return nil
	}
	return d.Errf("%s must be %s, not '%s'", setting, strings.Join(words, ", "), v)
}

// onOffArg reads a switch: on or off, or a placeholder kept as text in ph
// under key for Provision.
func onOffArg(d *caddyfile.Dispenser, setting string) (WeakBool, error) {
	v, err := singleArg(d)
	if err != nil {
		return "", err
	}
	if hasPlaceholder(v) {
		return WeakBool(v), nil
	}
	switch strings.ToLower(v) {
	case "on":
		return weakBool(true), nil
	case "off":
		return weakBool(false), nil
	}
	return "", d.Errf("%s must be on or off, not '%s'", setting, v)
}
