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
	"strconv"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("jwt", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("jwt_issue", parseIssueDirective)
	httpcaddyfile.RegisterHandlerDirective("jwt_auth", parseAuthDirective)
	// jwt_issue first (its routes must answer before jwt_auth guards the
	// same site), then jwt_auth, both before basic_auth: no `order` line
	// or `route` block is needed.
	httpcaddyfile.RegisterDirectiveOrder("jwt_issue", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_auth", httpcaddyfile.Before, "basic_auth")
}

// parseGlobalOption sets up the `jwt` app from the global option:
//
//	jwt {
//		secret          <hmac-key> [<kid>]
//		algorithm       <alg>
//		private_key     <pem-file> [<kid>]
//		public_key      <pem-file> [<kid>]
//		jwks_url        <url>
//		jwks_refresh    <duration>
//		issuer          <iss>
//		audience        <aud>...
//		leeway          <duration>
//		access_ttl      <duration>
//		refresh_ttl     <duration>
//		fresh_for       <duration>
//		identity_claim  <name>
//		token_from      <header|cookie|query|json>...
//		header_name     <name>
//		header_type     <type>|""
//		query_param     <name>
//		json_key        <name>
//		refresh_json_key <name>
//		message_key     <key>
//		revocation_sync <duration>
//		cache_size      <n>
//		cookie {
//			access_name       <name>
//			refresh_name      <name>
//			access_path       <path>
//			refresh_path      <path>
//			domain            <domain>
//			secure            auto|on|off
//			samesite          lax|strict|none
//			session           on|off
//			csrf_access_name  <name>
//			csrf_refresh_name <name>
//			csrf_access_path  <path>
//			csrf_refresh_path <path>
//		}
//		csrf {
//			protect            on|off
//			header             <name>
//			refresh_header     <name>
//			methods            <method>...
//			check_form         on|off
//			form_field         <name>
//			refresh_form_field <name>
//			in_cookies         on|off
//		}
//	}
//
// secret, public_key and jwks_url may be repeated, audience too (its
// values add up); every other setting appears once. Any value may be a
// placeholder. One secret without kid adapts to "secret"; otherwise the
// secret lines fill "secrets" ({"key", "kid"}), the signing one first.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	d.Next() // consume option name (before any error, so errors carry the line)
	if existing != nil {
		// the option may appear once; merging two would hide a mistake
		return nil, d.Err("the jwt global option may appear only once")
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "secret":
			var sk *SecretKey
			if sk, err = secretArgs(d); err == nil {
				app.Secrets = append(app.Secrets, *sk)
			}
		case "algorithm":
			err = singleArgTo(d, &app.Algorithm)
		case "private_key":
			if app.PrivateKey != nil {
				return nil, d.Err("private_key may appear only once: one key signs; add older keys as public_key")
			}
			app.PrivateKey, err = keyFileArgs(d)
		case "public_key":
			var kf *KeyFile
			if kf, err = keyFileArgs(d); err == nil {
				app.PublicKeys = append(app.PublicKeys, *kf)
			}
		case "jwks_url":
			var v string
			if v, err = singleArg(d); err == nil {
				app.JWKSURLs = append(app.JWKSURLs, v)
			}
		case "jwks_refresh":
			err = durationArg(d, &app.JWKSRefresh)
		case "issuer":
			err = singleArgTo(d, &app.Issuer)
		case "audience":
			var args []string
			if args, err = listArgs(d); err == nil {
				app.Audience = append(app.Audience, args...)
			}
		case "leeway":
			err = durationArg(d, &app.Leeway)
		case "access_ttl":
			err = durationArg(d, &app.AccessTTL)
		case "refresh_ttl":
			err = durationArg(d, &app.RefreshTTL)
		case "fresh_for":
			err = durationArg(d, &app.FreshFor)
		case "identity_claim":
			err = singleArgTo(d, &app.IdentityClaim)
		case "token_from":
			app.TokenFrom, err = tokenFromArgs(d)
		case "header_name", "header_type", "query_param", "json_key", "refresh_json_key":
			err = tokenNameArg(d, &app.TokenLookup)
		case "message_key":
			err = nonEmptyArgTo(d, &app.MessageKey)
		case "revocation_sync":
			err = durationArg(d, &app.RevocationSync)
		case "cache_size":
			err = cacheSizeArg(d, &app.CacheSize)
		case "cookie":
			if app.Cookie != nil {
				return nil, d.Err("the cookie block may appear only once")
			}
			app.Cookie, err = cookieBlock(d)
		case "csrf":
			if app.CSRF != nil {
				return nil, d.Err("the csrf block may appear only once")
			}
			app.CSRF, err = csrfBlock(d)
		default:
			return nil, d.Errf("unrecognized jwt option '%s'", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	if len(app.Secrets) == 1 && app.Secrets[0].KID == "" {
		// one secret without kid is "secret", as it always was
		app.Secret, app.Secrets = app.Secrets[0].Key, nil
	}
	return httpcaddyfile.App{
		Name:  "jwt",
		Value: caddyconfig.JSON(app, nil),
	}, nil
}

// secretArgs reads `secret <key> [<kid>]`.
func secretArgs(d *caddyfile.Dispenser) (*SecretKey, error) {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return nil, d.Err("secret takes a key and an optional key id: secret <key> [<kid>]")
	}
	sk := &SecretKey{Key: args[0]}
	if len(args) == 2 {
		sk.KID = args[1]
	}
	return sk, nil
}

// parseAuthDirective sets up the handler from Caddyfile tokens:
//
//	jwt_auth [<matcher>] [fresh_required] [optional] {
//		fresh_required
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

// requireArgs reads `require <claim> <value>...`.
func requireArgs(d *caddyfile.Dispenser) (*ClaimRequirement, error) {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return nil, d.Errf("require takes a claim and at least one value: require <claim> <value>...")
	}
	return &ClaimRequirement{Claim: args[0], Values: args[1:]}, nil
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

// keyFileArgs reads `<setting> <pem-file> [<kid>]`.
func keyFileArgs(d *caddyfile.Dispenser) (*KeyFile, error) {
	setting := d.Val()
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return nil, d.Errf("%s takes a PEM file and an optional key id: %s <pem-file> [<kid>]", setting, setting)
	}
	kf := &KeyFile{File: args[0]}
	if len(args) == 2 {
		kf.KID = args[1]
	}
	return kf, nil
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

// cacheSizeArg reads `cache_size <n>`, a whole number (0 turns the cache
// off), or a placeholder kept as text in ph.
func cacheSizeArg(d *caddyfile.Dispenser, dst *WeakInt) error {
	v, err := singleArg(d)
	if err != nil {
		return err
	}
	if hasPlaceholder(v) {
		*dst = WeakInt(v)
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return d.Errf("cache_size must be a whole number, 0 to turn the cache off, not '%s'", v)
	}
	*dst = WeakInt(strconv.Itoa(n))
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

// Interface guards
var _ caddyfile.Unmarshaler = (*Auth)(nil)

// parseIssueDirective sets up the issuer from Caddyfile tokens:
//
//	jwt_issue [<matcher>] {
//		login      <path> [upstream]
//		refresh    <path> [upstream]
//		reauth     <path> [upstream]
//		logout     <path> [all]
//		upstream   <login|refresh|reauth>...
//		logout_all
//		jwks       <path>
//		user       <name> <bcrypt-hash> [<claim>=<value>...]
//		users_file <path>
//		deliver    <json|cookie>...
//		token_from <header|cookie|query|json>...
//		header_name <name>
//		header_type <type>|""
//		query_param <name>
//		json_key    <name>
//		refresh_json_key <name>
//		throttle   off
//		throttle   [<max_per_user> <max_per_ip> <window>] {
//			max_per_user <n>
//			max_per_ip   <n>
//			window       <duration>
//			capacity     <n>
//		}
//		body_timeout <duration>
//		rotate_refresh
//		rotate_grace <duration>
//	}
//
// user may be repeated; every other subdirective appears once. The inline
// arguments of throttle are a shorthand for its first three settings.
func parseIssueDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	i := new(Issue)
	err := i.UnmarshalCaddyfile(h.Dispenser)
	return i, err
}

// UnmarshalCaddyfile sets up the issuer from Caddyfile tokens. See
// parseIssueDirective for the syntax.
func (i *Issue) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "login", "refresh", "reauth":
			err = routeArgs(d, i)
		case "logout":
			err = logoutArgs(d, i)
		case "upstream":
			var routes []string
			if routes, err = listArgs(d); err == nil {
				i.Upstream = append(i.Upstream, routes...)
			}
		case "logout_all":
			err = noArgs(d, &i.LogoutAll)
		case "jwks":
			err = singleArgTo(d, &i.JWKS)
		case "user":
			var u *User
			if u, err = userArgs(d); err == nil {
				i.Users = append(i.Users, *u)
			}
		case "users_file":
			err = singleArgTo(d, &i.UsersFile)
		case "deliver":
			i.Deliver, err = deliverArgs(d)
		case "token_from":
			i.TokenFrom, err = tokenFromArgs(d)
		case "header_name", "header_type", "query_param", "json_key", "refresh_json_key":
			err = tokenNameArg(d, &i.TokenLookup)
		case "throttle":
			i.Throttle, err = throttleArgs(d)
		case "body_timeout":
			err = durationArg(d, &i.BodyTimeout)
		case "rotate_refresh":
			err = noArgs(d, &i.RotateRefresh)
		case "rotate_grace":
			err = durationArg(d, &i.RotateGrace)
		default:
			return d.Errf("unrecognized jwt_issue subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// routeArgs reads `login|refresh|reauth <path> [upstream]`: upstream
// delegates the route to the next handler (the app), a shorthand for
// `upstream <route>`.
func routeArgs(d *caddyfile.Dispenser, i *Issue) error {
	route := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 || len(args) > 2 || (len(args) == 2 && args[1] != "upstream") {
		return d.Errf("%s takes a path and optionally upstream: %s <path> [upstream]", route, route)
	}
	switch route {
	case "login":
		i.Login = args[0]
	case "refresh":
		i.Refresh = args[0]
	case "reauth":
		i.Reauth = args[0]
	}
	if len(args) == 2 {
		i.Upstream = append(i.Upstream, route)
	}
	return nil
}

// logoutArgs reads `logout <path> [all]`: all also revokes every token of
// the presented token's identity, a shorthand for `logout_all`.
func logoutArgs(d *caddyfile.Dispenser, i *Issue) error {
	args := d.RemainingArgs()
	if len(args) == 0 || len(args) > 2 || (len(args) == 2 && args[1] != "all") {
		return d.Errf("logout takes a path and optionally all: logout <path> [all]")
	}
	i.Logout = args[0]
	i.LogoutAll = i.LogoutAll || len(args) == 2
	return nil
}

// userArgs reads `user <name> <bcrypt-hash> [<claim>=<value>...]`.
func userArgs(d *caddyfile.Dispenser) (*User, error) {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return nil, d.Errf("user takes a name, a bcrypt hash and optional claims: user <name> <bcrypt-hash> [<claim>=<value>...]")
	}
	u := &User{Name: args[0], Hash: args[1]}
	for _, kv := range args[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, d.Errf("user claim '%s' must be written <claim>=<value>", kv)
		}
		if u.Claims == nil {
			u.Claims = map[string]any{}
		}
		u.Claims[k] = v
	}
	return u, nil
}

// deliverArgs reads `deliver <json|cookie>...`.
func deliverArgs(d *caddyfile.Dispenser) ([]string, error) {
	args, err := listArgs(d)
	if err != nil {
		return nil, err
	}
	for _, w := range args {
		if w != "json" && w != "cookie" && !hasPlaceholder(w) {
			return nil, d.Errf("deliver takes json and/or cookie, not '%s'", w)
		}
	}
	return args, nil
}

// throttleArgs reads `throttle off` or
//
//	throttle [<max_per_user> <max_per_ip> <window>] {
//		max_per_user <n>
//		max_per_ip   <n>
//		window       <duration>
//		capacity     <n>
//	}
//
// Every number must be positive; any value may be a placeholder, kept as
// text for Provision.
func throttleArgs(d *caddyfile.Dispenser) (*ThrottleConfig, error) {
	args := d.RemainingArgs()
	nesting := d.Nesting()
	if len(args) == 1 && args[0] == "off" {
		if d.NextBlock(nesting) {
			return nil, d.Err("throttle off takes no block")
		}
		return &ThrottleConfig{Disabled: true}, nil
	}
	const usage = "throttle takes <max_per_user> <max_per_ip> <window> (throttle 5 20 15m), a block of max_per_user, max_per_ip, window and capacity, or off"
	if len(args) != 0 && len(args) != 3 {
		return nil, d.Err(usage)
	}
	t := new(ThrottleConfig)
	if len(args) == 3 {
		for _, e := range []error{
			positiveNumber(d, "max_per_user", args[0], &t.MaxPerUser),
			positiveNumber(d, "max_per_ip", args[1], &t.MaxPerIP),
			positiveDuration(d, "window", args[2], &t.Window),
		} {
			if e != nil {
				return nil, e
			}
		}
	}
	set := len(args) == 3
	for d.NextBlock(nesting) {
		set = true
		setting := d.Val()
		var err error
		switch setting {
		case "max_per_user":
			err = throttleArg(d, positiveNumber, &t.MaxPerUser)
		case "max_per_ip":
			err = throttleArg(d, positiveNumber, &t.MaxPerIP)
		case "window":
			err = throttleArg(d, positiveDuration, &t.Window)
		case "capacity":
			err = throttleArg(d, positiveNumber, &t.Capacity)
		default:
			return nil, d.Errf("unrecognized throttle setting '%s'; expected max_per_user, max_per_ip, window or capacity", setting)
		}
		if err != nil {
			return nil, err
		}
	}
	if !set {
		return nil, d.Err(usage)
	}
	return t, nil
}

// throttleArg reads the one argument of a setting in the throttle block
// with check.
func throttleArg[T any](d *caddyfile.Dispenser, check func(*caddyfile.Dispenser, string, string, *T) error, dst *T) error {
	setting := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return err
	}
	return check(d, setting, v, dst)
}

// positiveNumber reads v, the value of setting, as a whole number above 0,
// or keeps it in ph when it holds a placeholder.
func positiveNumber(d *caddyfile.Dispenser, setting, v string, dst *WeakInt) error {
	if hasPlaceholder(v) {
		*dst = WeakInt(v)
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return d.Errf("throttle: %s takes positive whole numbers only, not '%s'", setting, v)
	}
	*dst = WeakInt(strconv.Itoa(n))
	return nil
}

// positiveDuration reads v, the value of setting, as a duration above 0,
// or keeps it in ph when it holds a placeholder.
func positiveDuration(d *caddyfile.Dispenser, setting, v string, dst *WeakDuration) error {
	if hasPlaceholder(v) {
		*dst = WeakDuration(v)
		return nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur <= 0 {
		return d.Errf("throttle: %s '%s' must be a positive duration such as 15m", setting, v)
	}
	*dst = weakDuration(dur)
	return nil
}

var _ caddyfile.Unmarshaler = (*Issue)(nil)

// cookieBlock reads the `cookie { ... }` block of the jwt option. Names,
// paths and the domain are checked once resolved, at Provision; the
// switches here, unless they hold a placeholder.
func cookieBlock(d *caddyfile.Dispenser) (*CookieConfig, error) {
	if d.NextArg() {
		return nil, d.Err("cookie takes a block of settings only: cookie { access_name ... }")
	}
	c := new(CookieConfig)
	text := map[string]*string{
		"access_name": &c.AccessName, "refresh_name": &c.RefreshName,
		"access_path": &c.AccessPath, "refresh_path": &c.RefreshPath,
		"domain":           &c.Domain,
		"csrf_access_name": &c.CSRFAccessName, "csrf_refresh_name": &c.CSRFRefreshName,
		"csrf_access_path": &c.CSRFAccessPath, "csrf_refresh_path": &c.CSRFRefreshPath,
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		setting := d.Val()
		if seen[setting] {
			return nil, d.Errf("cookie: %s may appear only once", setting)
		}
		seen[setting] = true
		var err error
		switch setting {
		case "secure":
			err = wordArg(d, &c.Secure, "cookie: secure", "auto", "on", "off")
		case "samesite":
			err = wordArg(d, &c.SameSite, "cookie: samesite", "lax", "strict", "none")
		case "session":
			c.Session, err = onOffArg(d, "cookie: session")
		default:
			dst, ok := text[setting]
			if !ok {
				return nil, d.Errf("unrecognized cookie setting '%s'; expected access_name, refresh_name, access_path, refresh_path, domain, secure, samesite, session, csrf_access_name, csrf_refresh_name, csrf_access_path or csrf_refresh_path", setting)
			}
			err = singleArgTo(d, dst)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
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

// csrfBlock reads the `csrf { ... }` block of the jwt option.
func csrfBlock(d *caddyfile.Dispenser) (*CSRFConfig, error) {
	if d.NextArg() {
		return nil, d.Err("csrf takes a block of settings only: csrf { protect ... }")
	}
	c := new(CSRFConfig)
	text := map[string]*string{
		"header": &c.Header, "refresh_header": &c.RefreshHeader,
		"form_field": &c.FormField, "refresh_form_field": &c.RefreshFormField,
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		setting := d.Val()
		if seen[setting] {
			return nil, d.Errf("csrf: %s may appear only once", setting)
		}
		seen[setting] = true
		var err error
		switch setting {
		case "protect":
			c.Protect, err = onOffArg(d, "csrf: protect")
		case "check_form":
			c.CheckForm, err = onOffArg(d, "csrf: check_form")
		case "in_cookies":
			c.InCookies, err = onOffArg(d, "csrf: in_cookies")
		case "methods":
			c.Methods, err = listArgs(d)
		default:
			dst, ok := text[setting]
			if !ok {
				return nil, d.Errf("unrecognized csrf setting '%s'; expected protect, header, refresh_header, methods, check_form, form_field, refresh_form_field or in_cookies", setting)
			}
			err = singleArgTo(d, dst)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
