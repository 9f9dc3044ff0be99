package jwtextended

import (
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"strconv"
	"strings"

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
//		secret      <hmac-key>
//		algorithm   <alg>
//		private_key <pem-file> [<kid>]
//		public_key  <pem-file> [<kid>]
//		jwks_url    <url>
//		jwks_refresh <duration>
//		issuer      <iss>
//		audience    <aud>...
//		leeway      <duration>
//		access_ttl  <duration>
//		refresh_ttl <duration>
//		fresh_for   <duration>
//		identity_claim <name>
//		token_from  <header|cookie|query>...
//		revocation_sync <duration>
//		cache_size  <n>
//	}
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
		setting := d.Val()
		switch setting {
		case "secret", "algorithm", "issuer", "identity_claim":
			v, err := singleArg(d)
			if err != nil {
				return nil, err
			}
			switch setting {
			case "secret":
				app.Secret = v
			case "algorithm":
				app.Algorithm = v
			case "issuer":
				app.Issuer = v
			case "identity_claim":
				app.IdentityClaim = v
			}
		case "private_key", "public_key":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return nil, d.Errf("%s takes a PEM file and an optional key id: %s <pem-file> [<kid>]", setting, setting)
			}
			kf := KeyFile{File: args[0]}
			if len(args) == 2 {
				kf.KID = args[1]
			}
			if setting == "private_key" {
				if app.PrivateKey != nil {
					return nil, d.Err("private_key may appear only once: one key signs; add older keys as public_key")
				}
				app.PrivateKey = &kf
			} else {
				app.PublicKeys = append(app.PublicKeys, kf)
			}
		case "jwks_url":
			v, err := singleArg(d)
			if err != nil {
				return nil, err
			}
			app.JWKSURLs = append(app.JWKSURLs, v)
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			app.Audience = append(app.Audience, args...)
		case "leeway", "access_ttl", "refresh_ttl", "fresh_for", "jwks_refresh", "revocation_sync":
			v, err := singleArg(d)
			if err != nil {
				return nil, err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return nil, d.Errf("%s: %v", setting, err)
			}
			if dur < 0 {
				return nil, d.Errf("%s must not be negative", setting)
			}
			cd := caddy.Duration(dur)
			switch setting {
			case "leeway":
				app.Leeway = cd
			case "access_ttl":
				app.AccessTTL = cd
			case "refresh_ttl":
				app.RefreshTTL = cd
			case "fresh_for":
				app.FreshFor = cd
			case "jwks_refresh":
				app.JWKSRefresh = cd
			case "revocation_sync":
				if app.Revocation == nil {
					app.Revocation = new(RevocationConfig)
				}
				app.Revocation.SyncInterval = cd
			}
		case "token_from":
			args, err := tokenFromArgs(d)
			if err != nil {
				return nil, err
			}
			app.TokenFrom = args
		case "cache_size":
			v, err := singleArg(d)
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, d.Errf("cache_size must be a whole number, 0 to turn the cache off, not '%s'", v)
			}
			app.CacheSize = &n
		default:
			return nil, d.Errf("unrecognized jwt option '%s'", setting)
		}
	}
	return httpcaddyfile.App{
		Name:  "jwt",
		Value: caddyconfig.JSON(app, nil),
	}, nil
}

// parseAuthDirective sets up the handler from Caddyfile tokens:
//
//	jwt_auth [<matcher>] [fresh_required] [optional] {
//		fresh_required
//		optional
//		token_type <access|refresh|any>
//		require <claim> <value>...
//		token_from <header|cookie|query>...
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
		switch d.Val() {
		case "fresh_required", "optional", "verify_preflight", "handle_errors":
			flag := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			switch flag {
			case "fresh_required":
				a.FreshRequired = true
			case "optional":
				a.Optional = true
			case "verify_preflight":
				a.VerifyPreflight = true
			case "handle_errors":
				a.HandleErrors = true
			}
		case "token_type":
			v, err := singleArg(d)
			if err != nil {
				return err
			}
			switch v {
			case token.TypeAccess, token.TypeRefresh, "any":
			default:
				return d.Errf("token_type must be access, refresh or any, not '%s'", v)
			}
			a.TokenType = v
		case "require":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("require takes a claim and at least one value: require <claim> <value>...")
			}
			a.Require = append(a.Require, ClaimRequirement{Claim: args[0], Values: args[1:]})
		case "token_from":
			args, err := tokenFromArgs(d)
			if err != nil {
				return err
			}
			a.TokenFrom = args
		default:
			return d.Errf("unrecognized jwt_auth subdirective '%s'", d.Val())
		}
	}
	return nil
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

// tokenFromArgs reads `token_from <header|cookie|query>...`.
func tokenFromArgs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	for i, w := range args {
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
//		login   <path>
//		refresh <path>
//		reauth  <path>
//		logout  <path>
//		jwks    <path>
//		user    <name> <bcrypt-hash> [<claim>=<value>...]
//		users_file <path>
//		deliver <json|cookie>...
//		token_from <header|cookie|query>...
//		throttle <max_per_user> <max_per_ip> <window> | off
//		rotate_refresh
//	}
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
		setting := d.Val()
		switch setting {
		case "login", "refresh", "reauth", "logout", "jwks", "users_file":
			v, err := singleArg(d)
			if err != nil {
				return err
			}
			switch setting {
			case "login":
				i.Login = v
			case "refresh":
				i.Refresh = v
			case "reauth":
				i.Reauth = v
			case "logout":
				i.Logout = v
			case "jwks":
				i.JWKS = v
			case "users_file":
				i.UsersFile = v
			}
		case "user":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("user takes a name, a bcrypt hash and optional claims: user <name> <bcrypt-hash> [<claim>=<value>...]")
			}
			u := User{Name: args[0], Hash: args[1]}
			for _, kv := range args[2:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return d.Errf("user claim '%s' must be written <claim>=<value>", kv)
				}
				if u.Claims == nil {
					u.Claims = map[string]any{}
				}
				u.Claims[k] = v
			}
			i.Users = append(i.Users, u)
		case "deliver":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, w := range args {
				if w != "json" && w != "cookie" {
					return d.Errf("deliver takes json and/or cookie, not '%s'", w)
				}
			}
			i.Deliver = args
		case "token_from":
			args, err := tokenFromArgs(d)
			if err != nil {
				return err
			}
			i.TokenFrom = args
		case "throttle":
			args := d.RemainingArgs()
			if len(args) == 1 && args[0] == "off" {
				i.Throttle = &ThrottleConfig{Disabled: true}
				continue
			}
			if len(args) != 3 {
				return d.Errf("throttle takes failures per user, failures per IP and a window (throttle 5 20 15m), or off")
			}
			perUser, err1 := strconv.Atoi(args[0])
			perIP, err2 := strconv.Atoi(args[1])
			if err1 != nil || err2 != nil || perUser < 1 || perIP < 1 {
				return d.Errf("throttle: failures per user and per IP must be positive whole numbers, not '%s' and '%s'", args[0], args[1])
			}
			window, err := caddy.ParseDuration(args[2])
			if err != nil || window <= 0 {
				return d.Errf("throttle: window '%s' must be a positive duration such as 15m", args[2])
			}
			i.Throttle = &ThrottleConfig{MaxPerUser: perUser, MaxPerIP: perIP, Window: caddy.Duration(window)}
		case "rotate_refresh":
			if d.NextArg() {
				return d.ArgErr()
			}
			i.RotateRefresh = true
		default:
			return d.Errf("unrecognized jwt_issue subdirective '%s'", setting)
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Issue)(nil)
