package jwtextended

// The Caddyfile syntax of the jwt global option, which sets up the jwt app.

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

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
//		cors {
//			origins     <origin>...
//			credentials
//			headers     <name>...
//			max_age     <duration>
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
		case "cors":
			if app.CORS != nil {
				return nil, d.Err("the cors block may appear only once")
			}
			app.CORS, err = corsBlock(d)
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
	err := eachSetting(d, "cookie", func(setting string) error {
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
				return d.Errf("unrecognized cookie setting '%s'; expected access_name, refresh_name, access_path, refresh_path, domain, secure, samesite, session, csrf_access_name, csrf_refresh_name, csrf_access_path or csrf_refresh_path", setting)
			}
			err = singleArgTo(d, dst)
		}
		return err
	})
	return c, err
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
	err := eachSetting(d, "csrf", func(setting string) error {
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
				return d.Errf("unrecognized csrf setting '%s'; expected protect, header, refresh_header, methods, check_form, form_field, refresh_form_field or in_cookies", setting)
			}
			err = singleArgTo(d, dst)
		}
		return err
	})
	return c, err
}

// corsBlock reads the `cors { ... }` block of the jwt option.
func corsBlock(d *caddyfile.Dispenser) (*CORSConfig, error) {
	if d.NextArg() {
		return nil, d.Err("cors takes a block of settings only: cors { origins ... }")
	}
	c := new(CORSConfig)
	err := eachSetting(d, "cors", func(setting string) error {
		var err error
		switch setting {
		case "origins":
			c.Origins, err = listArgs(d)
		case "credentials":
			err = noArgs(d, &c.Credentials)
		case "headers":
			c.Headers, err = listArgs(d)
		case "max_age":
			err = durationArg(d, &c.MaxAge)
		default:
			return d.Errf("unrecognized cors setting '%s'; expected origins, credentials, headers or max_age", setting)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(c.Origins) == 0 {
		return nil, d.Err("cors needs the origins it allows: origins https://app.example.com ...")
	}
	return c, nil
}

// eachSetting reads the settings of the block d is at, passing each name
// to set, and refuses a setting given twice, naming the block.
func eachSetting(d *caddyfile.Dispenser, block string, set func(setting string) error) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		setting := d.Val()
		if seen[setting] {
			return d.Errf("%s: %s may appear only once", block, setting)
		}
		seen[setting] = true
		if err := set(setting); err != nil {
			return err
		}
	}
	return nil
}
