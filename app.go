// Package jwtextended is a Caddy v2 module that brings flask-jwt-extended's
// token model (access and refresh tokens, fresh tokens, revocation, cookies
// with CSRF protection) to the edge.
//
// The `jwt` app owns keys, lifetimes, token sources and the revocation
// store; the handlers `jwt_auth` (verify) and `jwt_issue` (mint) are thin
// and share it.
package jwtextended

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(App{})
}

// Defaults of the app, as the contract names them.
const (
	defaultAccessTTL     = 15 * time.Minute
	defaultRefreshTTL    = 720 * time.Hour
	defaultIdentityClaim = "sub"
)

// App is the `jwt` app. It holds everything the handlers share: the keys
// that sign and verify, token lifetimes, where tokens are looked up, and the
// store of revoked token ids. Configure it with the global Caddyfile option
// `jwt { ... }` or as `apps.jwt` in JSON; without any configuration it
// generates an ES256 key and keeps it in Caddy's storage.
type App struct {
	// HMAC secret for HS256/HS384/HS512. It must be at least 32 bytes
	// (48 for HS384, 64 for HS512). Placeholders such as {env.JWT_SECRET}
	// and {file./run/secrets/jwt} are resolved at load.
	Secret string `json:"secret,omitempty"`

	// HMAC secrets for rotation, each optionally named by a key id: the
	// first signs (its kid, when set, goes into the token header), every
	// one verifies. A token's kid picks the secret of that kid; a token
	// without kid is checked against each. Instead of secret, not with it.
	Secrets []SecretKey `json:"secrets,omitempty"`

	// The signing algorithm of the secret or private key. Default: HS256
	// with a secret, otherwise inferred from the key (ES256 for the
	// generated key). Tokens are only ever verified with the algorithm
	// configured for the key that verifies them.
	Algorithm string `json:"algorithm,omitempty"`

	// A PEM private key that signs minted tokens; its public half also
	// verifies.
	PrivateKey *KeyFile `json:"private_key,omitempty"`

	// PEM public keys that only verify (key rotation, other issuers).
	PublicKeys []KeyFile `json:"public_keys,omitempty"`

	// URLs of remote JWK Sets whose keys are trusted for verification.
	// They are fetched in the background after start, cached and refreshed.
	JWKSURLs []string `json:"jwks_urls,omitempty"`

	// How often remote JWK Sets are refreshed. Default: 15m.
	JWKSRefresh caddy.Duration `json:"jwks_refresh,omitempty"`

	// Minted as `iss`; when set, verification requires it.
	Issuer string `json:"issuer,omitempty"`

	// Minted as `aud`; when set, verification requires one of them.
	Audience []string `json:"audience,omitempty"`

	// Clock skew allowed when checking exp, nbf and iat. Default: 0.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// Lifetime of access tokens. Default: 15m.
	AccessTTL caddy.Duration `json:"access_ttl,omitempty"`

	// Lifetime of refresh tokens. Default: 720h.
	RefreshTTL caddy.Duration `json:"refresh_ttl,omitempty"`

	// When unset, tokens minted by a login carry `fresh: true`. When set,
	// they carry `fresh: <unix time now + fresh_for>`.
	FreshFor caddy.Duration `json:"fresh_for,omitempty"`

	// The claim that names the user. Default: sub.
	IdentityClaim string `json:"identity_claim,omitempty"`

	// Where tokens are looked up, in order: header, cookie, query, json
	// (a field of a JSON request body). Default: header.
	TokenFrom []string `json:"token_from,omitempty"`

	// The header a token is read from (JWT_HEADER_NAME). Default:
	// Authorization.
	HeaderName string `json:"header_name,omitempty"`

	// The type (scheme) before the token in that header (JWT_HEADER_TYPE),
	// matched case-insensitively. Default: Bearer; "" reads the whole
	// header value as the token.
	HeaderType *string `json:"header_type,omitempty"`

	// The query parameter a token is read from (JWT_QUERY_STRING_NAME).
	// Default: jwt.
	QueryParam string `json:"query_param,omitempty"`

	// The field of a JSON body an access token is read from
	// (JWT_JSON_KEY). Default: access_token.
	JSONKey string `json:"json_key,omitempty"`

	// The field of a JSON body a refresh token is read from, where a
	// refresh token is wanted (JWT_REFRESH_JSON_KEY). Default:
	// refresh_token.
	RefreshJSONKey string `json:"refresh_json_key,omitempty"`

	// The key of the message in every JSON refusal, login failures
	// included (JWT_ERROR_MESSAGE_KEY). Default: msg.
	MessageKey string `json:"message_key,omitempty"`
	// The names and attributes of the token cookies and their CSRF
	// cookies (cookies.go).
	Cookie *CookieConfig `json:"cookie,omitempty"`

	// The double submit CSRF check of tokens read from cookies
	// (cookies.go).
	CSRF *CSRFConfig `json:"csrf,omitempty"`

	// How often the in-memory set of revoked token ids is refreshed from
	// Caddy's storage (the global `storage` option), so that revocations
	// made by other instances sharing it are seen. A revocation is visible
	// on the instance that made it at once, and on every other instance
	// within revocation_sync plus the time one listing of the storage
	// takes. At least 100ms. Default: 4s, which keeps the contract's bound
	// of 5 seconds with room for the listing itself.
	RevocationSync caddy.Duration `json:"revocation_sync,omitempty"`

	// How many verified tokens are remembered, so that a token seen again
	// skips decoding and the signature check (expiry, revocation and
	// freshness are still checked on every request). Default: 10000;
	// 0 disables the cache.
	CacheSize *int `json:"cache_size,omitempty"`

	// The number and duration settings that hold placeholders, as text,
	// until Provision resolves them (see settings.go).
	placeholders placeholderSettings

	ring *keys.Ring
	// jwksKept keeps the last good set of each jwks_url across reloads
	// and restarts (jwks.go); nil without jwks_url.
	jwksKept *jwksKeeper
	verifier *token.Verifier
	minter   *token.Minter
	cache    *token.Cache
	metrics  *appMetrics
	revoked  revocationStore
	sources  []tokenSource
	// tokenFromSet: token_from was configured; otherwise the default
	// lookup is header, and header cookie once a jwt_issue of this
	// config delivers cookies (see cookiesDelivered).
	tokenFromSet bool
	// cookieDelivery: a jwt_issue of this config delivers cookies;
	// authFollows: a jwt_auth of it uses the app's token_from.
	cookieDelivery, authFollows bool
	// followers are the lookups of the handlers that use the app's
	// token_from, updated when the default changes.
	followers []*[]tokenSource
	names     *tokenNames
	refusals  *refusalBodies
	cookies   cookieSettings
	csrf      csrfSettings
	logger    *zap.Logger
	// events emits the app's Caddy events (events.go).
	events *appEvents
	// appIfConfigured reads another app of this config, once all are
	// provisioned (checkRoutes, at Start).
	appIfConfigured func(string) (any, error)
	// now is the clock. Every part of the app reads it through clock, so
	// a test that replaces it after Provision moves them all.
	now func() time.Time
}

// SecretKey is one `secret <key> [<kid>]` line.
type SecretKey struct {
	// The HMAC secret; placeholders are resolved at load.
	Key string `json:"key"`
	// Key id minted in the token header (first secret) and used to select
	// the secret.
	KID string `json:"kid,omitempty"`
}

// KeyFile is a PEM key on disk, optionally named by a key id.
type KeyFile struct {
	// Path of the PEM file. Placeholders are resolved at load.
	File string `json:"file"`
	// Key id minted in the token header and used to select the key.
	KID string `json:"kid,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "jwt",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves placeholders, applies defaults, loads keys and opens
// the revocation store. Everything the request path needs is prepared here.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.appIfConfigured = ctx.AppIfConfigured
	if a.now == nil {
		a.now = time.Now
	}
	if err := a.resolvePlaceholders(); err != nil {
		return err
	}
	a.tokenFromSet = len(a.TokenFrom) > 0
	a.applyDefaults()
	var err error
	if a.sources, err = parseTokenSources("token_from", a.TokenFrom); err != nil {
		return err
	}
	if err := checkTokenNames("jwt", a.HeaderName, a.HeaderType); err != nil {
		return err
	}
	a.names = newTokenNames(a.HeaderName, a.HeaderType, a.QueryParam, a.JSONKey, a.RefreshJSONKey)
	a.refusals = newRefusalBodies(a.MessageKey)
	if a.cookies, err = a.Cookie.settings(); err != nil {
		return err
	}
	if a.csrf, err = a.CSRF.settings(); err != nil {
		return err
	}
	size := token.DefaultCacheSize
	if a.CacheSize != nil {
		size = *a.CacheSize
	}
	a.cache = token.NewCache(size)
	if a.metrics, err = newAppMetrics(ctx.GetMetricsRegistry(), a.cache); err != nil {
		return err
	}
	cfg, err := a.keysConfig()
	if err != nil {
		return err
	}
	if cfg.Generated == nil && cfg.GeneratedSource != "" {
		if cfg.Generated, err = loadOrCreateSigningKey(ctx, ctx.Storage(), a.logger); err != nil {
			return err
		}
	}
	if len(cfg.JWKSURLs) > 0 {
		if a.jwksKept, err = openJWKSKeeper(ctx.Storage(), cfg.JWKSURLs, a.logger); err != nil {
			return err
		}
		cfg.LastGood = a.jwksKept
	}
	if a.ring, err = keys.Load(cfg); err != nil {
		return err
	}
	logKeys(a.logger, a.ring, a.JWKSURLs)
	if a.events, err = newAppEvents(ctx); err != nil {
		return err
	}
	a.verifier = a.newVerifier(a.cache)
	a.verifier.Prepare = prepareForRequests
	a.minter = a.newMinter()
	if a.revoked, err = openRevocationStore(ctx, a); err != nil {
		return err
	}
	return nil
}

// resolvePlaceholders replaces {env.*}, {file.*} and the other global
// placeholders in every text setting, and in the number and duration
// settings that hold them, once, at load.
func (a *App) resolvePlaceholders() error {
	repl := caddy.NewReplacer()
	var err error
	resolve := func(setting string, s *string) {
		if err != nil || *s == "" {
			return
		}
		var v string
		v, err = repl.ReplaceOrErr(*s, true, true)
		if err != nil {
			// never echo the value: it may be a secret
			err = fmt.Errorf("jwt: resolving placeholders in %s: %v", setting, err)
			return
		}
		*s = v
	}
	resolve("secret", &a.Secret)
	for i := range a.Secrets {
		resolve("secret", &a.Secrets[i].Key)
		resolve("secret", &a.Secrets[i].KID)
	}
	resolve("algorithm", &a.Algorithm)
	resolve("issuer", &a.Issuer)
	resolve("identity_claim", &a.IdentityClaim)
	if a.PrivateKey != nil {
		resolve("private_key", &a.PrivateKey.File)
		resolve("private_key", &a.PrivateKey.KID)
	}
	for i := range a.PublicKeys {
		resolve("public_key", &a.PublicKeys[i].File)
		resolve("public_key", &a.PublicKeys[i].KID)
	}
	for i := range a.JWKSURLs {
		resolve("jwks_url", &a.JWKSURLs[i])
	}
	for i := range a.Audience {
		resolve("audience", &a.Audience[i])
	}
	for i := range a.TokenFrom {
		resolve("token_from", &a.TokenFrom[i])
	}
	resolve("header_name", &a.HeaderName)
	if a.HeaderType != nil {
		resolve("header_type", a.HeaderType)
	}
	resolve("query_param", &a.QueryParam)
	resolve("json_key", &a.JSONKey)
	resolve("refresh_json_key", &a.RefreshJSONKey)
	resolve("message_key", &a.MessageKey)
	if err != nil {
		return err
	}
	return resolveSettings("jwt", a, a.placeholders)
}

// resolveEach replaces the global placeholders in each of vals, at load;
// the error names the setting, never the value.
func resolveEach(setting string, vals ...*string) error {
	repl := caddy.NewReplacer()
	for _, v := range vals {
		if *v == "" {
			continue
		}
		out, err := repl.ReplaceOrErr(*v, true, true)
		if err != nil {
			return fmt.Errorf("resolving placeholders in %s: %v", setting, err)
		}
		*v = out
	}
	return nil
}

// pointers returns a pointer to each element of s, for resolveEach.
func pointers(s []string) []*string {
	out := make([]*string, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// applyDefaults fills in the contract's defaults.
func (a *App) applyDefaults() {
	a.Algorithm = strings.ToUpper(a.Algorithm)
	if a.Algorithm == "EDDSA" {
		a.Algorithm = "EdDSA"
	}
	if a.AccessTTL == 0 {
		a.AccessTTL = caddy.Duration(defaultAccessTTL)
	}
	if a.RefreshTTL == 0 {
		a.RefreshTTL = caddy.Duration(defaultRefreshTTL)
	}
	if a.IdentityClaim == "" {
		a.IdentityClaim = defaultIdentityClaim
	}
	if len(a.TokenFrom) == 0 {
		a.TokenFrom = []string{"header"}
	}
}

// keysConfig is the keys part of the configuration. Without any key, it
// names the generated key kept in Caddy's storage (GeneratedSource) for
// the caller to load or create: Provision creates it on first use, the
// subcommands only load it.
func (a *App) keysConfig() (keys.Config, error) {
	cfg := keys.Config{
		Secret:     a.Secret,
		Algorithm:  a.Algorithm,
		PublicKeys: make([]keys.KeyFile, len(a.PublicKeys)),
		JWKSURLs:   a.JWKSURLs,
		Refresh:    time.Duration(a.JWKSRefresh),
		Logger:     a.logger,
		Now:        a.clock,
		Fetched:    a.countJWKSFetch,
	}
	for _, sk := range a.Secrets {
		cfg.Secrets = append(cfg.Secrets, keys.Secret{Key: sk.Key, KID: sk.KID})
	}
	if a.PrivateKey != nil {
		cfg.PrivateKey = &keys.KeyFile{File: a.PrivateKey.File, KID: a.PrivateKey.KID}
	}
	for i, pk := range a.PublicKeys {
		cfg.PublicKeys[i] = keys.KeyFile{File: pk.File, KID: pk.KID}
	}
	zero, err := cfg.ZeroConfig()
	if zero && err == nil {
		cfg.GeneratedSource = "generated key in storage (" + zeroConfigKeyPath + ")"
	}
	return cfg, err
}

// newVerifier is the app's token verifier.
func (a *App) newVerifier(cache *token.Cache) *token.Verifier {
	return &token.Verifier{
		Keys:          a.ring,
		Issuer:        a.Issuer,
		Audience:      a.Audience,
		IdentityClaim: a.IdentityClaim,
		Leeway:        time.Duration(a.Leeway),
		Now:           a.clock,
		Cache:         cache,
	}
}

// newMinter is the app's token minter.
func (a *App) newMinter() *token.Minter {
	return &token.Minter{
		Keys:          a.ring,
		Issuer:        a.Issuer,
		Audience:      a.Audience,
		IdentityClaim: a.IdentityClaim,
		AccessTTL:     a.accessTTL(),
		RefreshTTL:    a.refreshTTL(),
		FreshFor:      time.Duration(a.FreshFor),
		Now:           a.clock,
	}
}

// Validate refuses settings that cannot work, naming the setting and the
// fix.
func (a *App) Validate() error {
	for _, d := range []struct {
		name string
		v    caddy.Duration
	}{{"leeway", a.Leeway}, {"access_ttl", a.AccessTTL}, {"refresh_ttl", a.RefreshTTL}, {"fresh_for", a.FreshFor}, {"jwks_refresh", a.JWKSRefresh}} {
		if d.v < 0 {
			return fmt.Errorf("jwt: %s must not be negative (got %s)", d.name, time.Duration(d.v))
		}
	}
	if a.CacheSize != nil && *a.CacheSize < 0 {
		return fmt.Errorf("jwt: cache_size must be 0 (off) or more (got %d)", *a.CacheSize)
	}
	if a.IdentityClaim != defaultIdentityClaim && token.Reserved(a.IdentityClaim) {
		return fmt.Errorf("jwt: identity_claim %q names a claim the module sets itself (type, fresh, jti, iat, nbf, exp, iss, aud, csrf, fam); "+
			"use sub (the default) or a claim of your own, e.g. identity_claim username", a.IdentityClaim)
	}
	for _, u := range a.JWKSURLs {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return fmt.Errorf("jwt: jwks_url %q must be an http:// or https:// URL", u)
		}
	}
	return nil
}

// Start refuses a config with a jwt_issue route that can never be reached
// (checkRoutes: only now is the http app's route tree complete), then
// begins background work: JWK Set refreshes and revocation sync.
func (a *App) Start() error {
	if err := a.checkRoutes(); err != nil {
		return err
	}
	if err := a.ring.Start(); err != nil {
		return err
	}
	return a.revoked.start()
}

// Stop ends background work.
func (a *App) Stop() error {
	return errors.Join(a.ring.Stop(), a.revoked.stop())
}

// Cleanup releases what Provision took, also after a failed Provision or
// Validate: the remote JWK Set refreshers, this app's share of the last
// good JWK Sets and of the revocation set.
func (a *App) Cleanup() error {
	var errs []error
	if a.ring != nil {
		errs = append(errs, a.ring.Stop())
	}
	if a.jwksKept != nil {
		a.jwksKept.release()
	}
	if a.revoked != nil {
		a.revoked.release()
	}
	a.followers = nil
	return errors.Join(errs...)
}

// The app's token_from and cookie delivery. A config's handlers are
// provisioned after its app, one at a time and in no order this module
// controls, and all of them before the config serves; a reload provisions
// a new app with its new handlers. So each handler that uses the app's
// token_from registers its lookup here in Provision (followSources), and a
// jwt_issue with deliver cookie records that it does (cookiesDelivered):
// the default lookup becomes header cookie for every follower, those
// provisioned before included, and a token_from set without cookie is
// refused by whichever of the two comes second. No lock: nothing here runs
// while the config serves.

// followSources makes *dst the app's lookup, now and whenever a jwt_issue
// with deliver cookie changes the default. auth: dst is a jwt_auth's.
func (a *App) followSources(dst *[]tokenSource, auth bool) error {
	*dst = a.sources
	a.followers = append(a.followers, dst)
	if auth {
		a.authFollows = true
		return a.checkCookiesRead("jwt_auth")
	}
	return nil
}

// cookiesDelivered records that a jwt_issue delivers tokens as cookies.
// Without token_from, the default lookup becomes header cookie, so that
// jwt_auth reads the cookies the login sets.
func (a *App) cookiesDelivered() error {
	a.cookieDelivery = true
	if !a.tokenFromSet && !hasSource(a.sources, sourceCookie) {
		a.sources = []tokenSource{sourceHeader, sourceCookie}
		a.TokenFrom = []string{"header", "cookie"}
		for _, f := range a.followers {
			*f = a.sources
		}
	}
	return a.checkCookiesRead("jwt_issue")
}

// checkCookiesRead refuses a token_from set without cookie when a
// jwt_issue delivers cookies and a jwt_auth reads that token_from: the
// login's cookies would never be read.
func (a *App) checkCookiesRead(who string) error {
	if !a.cookieDelivery || !a.authFollows || hasSource(a.sources, sourceCookie) {
		return nil
	}
	return fmt.Errorf("%s: a jwt_issue delivers tokens as cookies (deliver cookie), but the jwt option's token_from (%s) does not read cookies "+
		"and a jwt_auth without a token_from of its own uses it, so the request after a login would be refused \"Missing Authorization Header\"; "+
		"add cookie to the jwt option's token_from (e.g. `token_from header cookie`), or remove it there (with deliver cookie the default is header cookie), "+
		"or give each jwt_auth its own token_from", who, sourceWords(a.sources))
}

// sourceWords names sources as token_from writes them.
func sourceWords(sources []tokenSource) string {
	words := make([]string, len(sources))
	for i, s := range sources {
		words[i] = s.String()
	}
	return strings.Join(words, " ")
}

// issuedHere reports whether a verified token was signed with this app's
// own signing key, and so minted here, rather than by another trusted
// issuer (a public_key or jwks_url key). When issuer is set, every
// verified token carries it already.
func (a *App) issuedHere(tok *token.Verified) bool { return a.ring.Signs(tok.Key) }

// clock reads the app's clock.
func (a *App) clock() time.Time { return a.now() }

// revokeIdentity revokes every token of identity issued until now.
func (a *App) revokeIdentity(ctx context.Context, identity string) error {
	return a.revoked.revokeIdentity(ctx, identity)
}

// identityRevokedBefore returns the time (unix seconds) at or before which
// every token of identity is revoked, when it is.
func (a *App) identityRevokedBefore(identity string) (int64, bool) {
	return a.revoked.identityRevokedBefore(identity)
}

// waitPastIdentityRevocation waits, at most a second, until the clock has
// left the second in which identity was revoked: a token minted in it would
// be revoked at once (iat has whole seconds), so a login right after a
// revocation gets its token a moment later instead.
func (a *App) waitPastIdentityRevocation(identity string) {
	before, ok := a.revoked.identityRevokedBefore(identity)
	if !ok {
		return
	}
	if wait := time.Unix(before+1, 0).Sub(a.now()); wait > 0 && wait <= time.Second {
		time.Sleep(wait)
	}
}

// mint signs a token with the app's signing key and counts it.
func (a *App) mint(req token.Request) (*token.Minted, error) {
	a.waitPastIdentityRevocation(req.Identity)
	m, err := a.minter.Mint(req)
	if err == nil {
		a.countIssued(req.Type)
	}
	return m, err
}

// accessTTL and the other getters return the effective settings.
func (a *App) accessTTL() time.Duration  { return time.Duration(a.AccessTTL) }
func (a *App) refreshTTL() time.Duration { return time.Duration(a.RefreshTTL) }

// jwtApp fetches the shared `jwt` app for a handler; a site that uses the
// handlers without the global option gets the zero-config app.
func jwtApp(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("jwt")
	if err != nil {
		return nil, fmt.Errorf("loading jwt app: %v", err)
	}
	return v.(*App), nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
