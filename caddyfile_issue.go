package jwtextended

// The Caddyfile syntax of the jwt_issue directive.

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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
//		failed_status <code>...
//		oidc <name> {
//			issuer        <url>
//			client_id     <id>
//			client_secret <secret>
//			scopes        <scope>...
//			login         <path>
//			callback      <path>
//			reauth        <path>
//			identity_claim <claim>
//			claims        <claim>...
//			fresh_within  <duration>
//			return_to     <origin>...
//		}
//		passkey {
//			rp_id       <domain>
//			rp_name     <name>
//			origins     <origin>...
//			register    <path>
//			login       <path>
//			reauth      <path>
//			credentials <path>
//			user_verification required|preferred
//		}
//	}
//
// user and oidc may be repeated; every other subdirective appears once. The inline
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
		case "failed_status":
			i.FailedStatus, err = statusArgs(d)
		case "oidc":
			var o *OIDCProvider
			if o, err = oidcArgs(d); err == nil {
				i.OIDC = append(i.OIDC, *o)
			}
		case "passkey":
			if i.Passkey != nil {
				return d.Err("passkey is given twice; write one passkey block")
			}
			i.Passkey, err = passkeyArgs(d)
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

// oidcArgs reads an `oidc <name> { ... }` block (see parseIssueDirective).
func oidcArgs(d *caddyfile.Dispenser) (*OIDCProvider, error) {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return nil, d.Errf("oidc takes a name and a block: oidc <name> { issuer <url> ... }")
	}
	o := &OIDCProvider{Name: args[0]}
	nesting := d.Nesting()
	seen := map[string]bool{}
	for d.NextBlock(nesting) {
		setting := d.Val()
		if seen[setting] {
			return nil, d.Errf("oidc %s: %s is given twice", o.Name, setting)
		}
		seen[setting] = true
		var err error
		switch setting {
		case "issuer":
			err = singleArgTo(d, &o.Issuer)
		case "client_id":
			err = singleArgTo(d, &o.ClientID)
		case "client_secret":
			err = singleArgTo(d, &o.ClientSecret)
		case "scopes":
			o.Scopes, err = listArgs(d)
		case "login":
			err = singleArgTo(d, &o.Login)
		case "callback":
			err = singleArgTo(d, &o.Callback)
		case "reauth":
			err = singleArgTo(d, &o.Reauth)
		case "identity_claim":
			err = singleArgTo(d, &o.IdentityClaim)
		case "claims":
			o.Claims, err = listArgs(d)
		case "fresh_within":
			var v string
			if v, err = singleArg(d); err == nil {
				err = positiveDuration(d, "oidc "+o.Name+": fresh_within", v, &o.FreshWithin)
			}
		case "return_to":
			o.ReturnTo, err = listArgs(d)
		default:
			return nil, d.Errf("unrecognized oidc subdirective '%s'", setting)
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// passkeyArgs reads a `passkey { ... }` block (see parseIssueDirective).
func passkeyArgs(d *caddyfile.Dispenser) (*PasskeyConfig, error) {
	if d.NextArg() {
		return nil, d.Err("passkey takes no arguments, only a block: passkey { login <path> ... }")
	}
	p := new(PasskeyConfig)
	nesting := d.Nesting()
	seen := map[string]bool{}
	for d.NextBlock(nesting) {
		setting := d.Val()
		if seen[setting] {
			return nil, d.Errf("passkey: %s is given twice", setting)
		}
		seen[setting] = true
		var err error
		switch setting {
		case "rp_id":
			err = singleArgTo(d, &p.RPID)
		case "rp_name":
			err = singleArgTo(d, &p.RPName)
		case "origins":
			p.Origins, err = listArgs(d)
		case "register":
			err = singleArgTo(d, &p.Register)
		case "login":
			err = singleArgTo(d, &p.Login)
		case "reauth":
			err = singleArgTo(d, &p.Reauth)
		case "credentials":
			err = singleArgTo(d, &p.Credentials)
		case "user_verification":
			if err = singleArgTo(d, &p.UserVerification); err == nil && p.UserVerification != "required" &&
				p.UserVerification != "preferred" && !hasPlaceholder(p.UserVerification) {
				err = d.Errf("passkey: user_verification takes required or preferred, not '%s'", p.UserVerification)
			}
		default:
			return nil, d.Errf("unrecognized passkey subdirective '%s'", setting)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(seen) == 0 {
		return nil, d.Err("passkey needs a block with at least one route: passkey { login <path> }")
	}
	return p, nil
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
			positiveDuration(d, "throttle: window", args[2], &t.Window),
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
			err = throttleArg(d, throttleDuration, &t.Window)
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

// throttleDuration is positiveDuration for a throttle setting.
func throttleDuration(d *caddyfile.Dispenser, setting, v string, dst *WeakDuration) error {
	return positiveDuration(d, "throttle: "+setting, v, dst)
}

// positiveDuration reads v, the value of setting (as an error names it),
// as a duration above 0, or keeps it when it holds a placeholder.
func positiveDuration(d *caddyfile.Dispenser, setting, v string, dst *WeakDuration) error {
	if hasPlaceholder(v) {
		*dst = WeakDuration(v)
		return nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur <= 0 {
		return d.Errf("%s '%s' must be a positive duration such as 15m", setting, v)
	}
	*dst = weakDuration(dur)
	return nil
}

var _ caddyfile.Unmarshaler = (*Issue)(nil)

// statusArgs reads `failed_status <code>...`: HTTP statuses.
func statusArgs(d *caddyfile.Dispenser) ([]int, error) {
	args, err := listArgs(d)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(args))
	for i, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil || n < 200 || n > 599 {
			return nil, d.Errf("failed_status takes HTTP statuses such as 401 403, not '%s'", a)
		}
		out[i] = n
	}
	return out, nil
}
