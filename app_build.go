package jwtextended

// One build path: the jwt app's settings become its services here, for
// Caddy's Provision and for the caddy jwt subcommands alike, so that a
// setting that changes verification (leeway, issuer, audience, keys, ...)
// changes `caddy jwt decode` too. What differs between the two is only
// what they are given (buildEnv): Provision creates the generated key on
// first use, registers metrics, emits events and joins the process's
// shared revocation set; the subcommands only load the generated key,
// count nowhere and read revocations from storage directly.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// core is what the app builds from its settings; its handlers share it.
type core struct {
	resolved resolvedSettings
	ring     *keys.Ring
	// jwksKept keeps the last good set of each jwks_url across reloads
	// and restarts (jwks_lastgood.go); nil without jwks_url.
	jwksKept *jwksKeeper
	cache    *token.Cache
	verifier *token.Verifier
	minter   *token.Minter
	revoked  *revocations
	// sources and names are the app's token lookup; a handler without a
	// token_from of its own reads sources through a pointer to this
	// field, so it sees the final lookup once every handler of the config
	// is provisioned (cookiesDelivered may change it until then).
	sources  []tokenSource
	names    *tokenNames
	refusals *refusalBodies
	cookies  cookieSettings
	csrf     csrfSettings
	// cors is the cors block; nil without one.
	cors    *corsPolicy
	metrics *appMetrics
	// events emits the app's Caddy events (events.go); nil emits none.
	events *appEvents
}

// resolvedSettings are the app's number and duration settings with their
// placeholders resolved and their defaults applied.
type resolvedSettings struct {
	leeway, accessTTL, refreshTTL, freshFor time.Duration
	jwksRefresh, revocationSync             time.Duration
	cacheSize                               int
}

// buildEnv is what the caller of build provides.
type buildEnv struct {
	ctx     context.Context
	storage certmagic.Storage
	// metrics is the registry the app's metrics join; nil: not exported.
	metrics *prometheus.Registry
	events  *appEvents
	// createKey: without any key configured, create the generated key in
	// storage when there is none yet (Provision); otherwise only load it.
	createKey bool
	// shared: join (and on first use load) the process's revocation set
	// of this storage, as every config served on it does.
	shared bool
}

// build resolves the settings and builds the app's services.
func (a *App) build(env buildEnv) error {
	if a.now == nil {
		a.now = time.Now
	}
	if a.logger == nil {
		a.logger = zap.NewNop()
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
	a.names = a.TokenLookup.tokenNames()
	a.refusals = newRefusalBodies(a.MessageKey)
	if a.cookies, err = a.Cookie.settings(); err != nil {
		return err
	}
	if a.csrf, err = a.CSRF.settings(); err != nil {
		return err
	}
	a.cookies.csrf = &a.csrf
	if a.cors, err = a.CORS.policy(&a.csrf); err != nil {
		return err
	}
	a.cache = token.NewCache(a.resolved.cacheSize)
	if a.metrics, err = newAppMetrics(env.metrics, a.cache); err != nil {
		return err
	}
	if err := a.buildKeys(env); err != nil {
		return err
	}
	logKeys(a.logger, a.ring, a.JWKSURLs)
	a.events = env.events
	a.verifier = &token.Verifier{
		Keys:          a.ring,
		Issuer:        a.Issuer,
		Audience:      a.Audience,
		IdentityClaim: a.IdentityClaim,
		Leeway:        a.resolved.leeway,
		Now:           a.clock,
		Cache:         a.cache,
		Prepare:       prepareForRequests,
	}
	a.minter = &token.Minter{
		Keys:          a.ring,
		Issuer:        a.Issuer,
		Audience:      a.Audience,
		IdentityClaim: a.IdentityClaim,
		AccessTTL:     a.resolved.accessTTL,
		RefreshTTL:    a.resolved.refreshTTL,
		FreshFor:      a.resolved.freshFor,
		Now:           a.clock,
	}
	if a.revoked, err = newRevocations(env.storage, a); err != nil {
		return err
	}
	if env.shared {
		// The first App on a storage in this process loads the revoked
		// ids before it returns, so the first request after a start
		// already sees them; later Apps (a reload) share that set. When
		// the storage cannot be read, the config is refused: serving
		// would accept tokens revoked before the restart. Cleanup leaves
		// the set.
		return a.revoked.attach()
	}
	return nil
}

// buildKeys loads the key ring: the configured keys, or the generated key
// kept in storage (created when env.createKey and there is none yet), and
// the last good copies of the remote JWK Sets.
func (a *App) buildKeys(env buildEnv) error {
	cfg := keys.Config{
		Secret:     a.Secret,
		Algorithm:  a.Algorithm,
		PublicKeys: make([]keys.KeyFile, len(a.PublicKeys)),
		JWKSURLs:   a.JWKSURLs,
		Refresh:    a.resolved.jwksRefresh,
		Logger:     a.logger,
		Now:        a.clock,
		Fetched:    a.metrics.countJWKSFetch,
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
	if err != nil {
		return err
	}
	if zero {
		cfg.GeneratedSource = "generated key in storage (" + zeroConfigKeyPath + ")"
		if env.createKey {
			cfg.Generated, err = loadOrCreateSigningKey(env.ctx, env.storage, a.logger)
		} else if cfg.Generated, err = loadStoredSigningKey(env.ctx, env.storage); errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("this config has no key, and no key has been generated in its storage yet (%s); "+
				"start Caddy with it once (it creates the key), or configure secret or private_key", zeroConfigKeyPath)
		}
		if err != nil {
			return err
		}
	}
	if len(cfg.JWKSURLs) > 0 {
		if a.jwksKept, err = openJWKSKeeper(env.storage, cfg.JWKSURLs, a.logger); err != nil {
			return err
		}
		cfg.LastGood = a.jwksKept
	}
	a.ring, err = keys.Load(cfg)
	return err
}

// resolvePlaceholders replaces {env.*}, {file.*} and the other global
// placeholders in every setting, once, at load: the text settings in
// place, the number and duration settings into resolved.
func (a *App) resolvePlaceholders() error {
	var err error
	resolve := func(setting string, s *string) {
		if err == nil {
			err = resolveEach(setting, s)
		}
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
	if err == nil {
		err = a.TokenLookup.resolvePlaceholders()
	}
	resolve("message_key", &a.MessageKey)
	if err != nil {
		return fmt.Errorf("jwt: %v", err)
	}
	r := &a.resolved
	for _, d := range []struct {
		key string
		w   WeakDuration
		dst *time.Duration
	}{
		{"access_ttl", a.AccessTTL, &r.accessTTL}, {"fresh_for", a.FreshFor, &r.freshFor},
		{"jwks_refresh", a.JWKSRefresh, &r.jwksRefresh}, {"leeway", a.Leeway, &r.leeway},
		{"refresh_ttl", a.RefreshTTL, &r.refreshTTL}, {"revocation_sync", a.RevocationSync, &r.revocationSync},
	} {
		if *d.dst, err = d.w.resolve("jwt", d.key); err != nil {
			return err
		}
	}
	n, set, err := a.CacheSize.resolve("jwt", "cache_size")
	if err != nil {
		return err
	}
	r.cacheSize = token.DefaultCacheSize
	if set {
		r.cacheSize = n
	}
	return nil
}

// resolveEach replaces the global placeholders in each of vals, at load;
// the error names the setting, never the value (it may be a secret).
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
	if a.resolved.accessTTL == 0 {
		a.resolved.accessTTL = defaultAccessTTL
	}
	if a.resolved.refreshTTL == 0 {
		a.resolved.refreshTTL = defaultRefreshTTL
	}
	if a.IdentityClaim == "" {
		a.IdentityClaim = defaultIdentityClaim
	}
	if len(a.TokenFrom) == 0 {
		a.TokenFrom = []string{"header"}
	}
}

// The app's token_from and cookie delivery. A config's handlers are
// provisioned after its app, one at a time and in no order this module
// controls, and all of them before the config serves; a reload provisions
// a new app with its new handlers. A handler without a token_from of its
// own reads the app's sources through a pointer (newAuthenticator), and a
// jwt_issue with deliver cookie records that it does (cookiesDelivered):
// the default lookup becomes header cookie for every handler, those
// provisioned before included, and a token_from set without cookie is
// refused by whichever of the two comes second. No lock: nothing here runs
// while the config serves.

// followLookup records that a handler uses the app's token_from; auth: it
// is a jwt_auth.
func (a *App) followLookup(auth bool) error {
	if !auth {
		return nil
	}
	a.authFollows = true
	return a.checkCookiesRead("jwt_auth")
}

// cookiesDelivered records that a jwt_issue delivers tokens as cookies.
// Without token_from, the default lookup becomes header cookie, so that
// jwt_auth reads the cookies the login sets.
func (a *App) cookiesDelivered() error {
	a.cookieDelivery = true
	if !a.tokenFromSet && !hasSource(a.sources, sourceCookie) {
		a.sources = []tokenSource{sourceHeader, sourceCookie}
		a.TokenFrom = []string{"header", "cookie"}
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

// mint signs a token with the app's signing key and counts it. A token of
// an identity revoked in this very second would be revoked at once (iat
// has whole seconds), so it is minted once the clock has left that second:
// a wait of at most a second, which ends early, with the context's error,
// when the request does.
func (a *App) mint(ctx context.Context, req token.Request) (*token.Minted, error) {
	if before, ok := a.revoked.identityRevokedBefore(req.Identity); ok {
		if wait := time.Unix(before+1, 0).Sub(a.now()); wait > 0 && wait <= time.Second {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
	}
	m, err := a.minter.Mint(req)
	if err == nil {
		a.metrics.countIssued(req.Type)
	}
	return m, err
}

// newAuthenticator builds an authenticator on the app's services. own is
// the handler's token_from (nil: the app's); names are the handler's
// (handlerNames).
func (a *App) newAuthenticator(own []tokenSource, names *tokenNames) *authenticator {
	sources := &a.sources
	if own != nil {
		sources = &own
	}
	return &authenticator{sources: sources, names: names.orDefault(), verifier: a.verifier, revoked: a.revoked, cookies: &a.cookies, csrf: &a.csrf}
}

// issuedHere reports whether a verified token was signed with this app's
// own signing key, and so minted here, rather than by another trusted
// issuer (a public_key or jwks_url key). When issuer is set, every
// verified token carries it already.
func (a *App) issuedHere(tok *token.Verified) bool { return a.ring.Signs(tok.Key) }

// claimSetByModule reports whether a claim name is one the module sets
// itself (a reserved claim or the identity claim), compared as the
// verifier compares names: up to case and Unicode folding, so that a
// token never carries two names it would refuse as duplicates.
func claimSetByModule(name, identityClaim string) bool {
	return token.CollidesWithReserved(name) || strictjson.Fold(name) == strictjson.Fold(identityClaim)
}

// ownClaims are a verified token's own claims: everything but the names
// the module sets and the identity claim. A refresh without upstream, in
// an issuer whose login is delegated, mints with them.
func ownClaims(tok *token.Verified, identityClaim string) map[string]any {
	out := make(map[string]any, len(tok.Claims))
	for name, v := range tok.Claims {
		if !claimSetByModule(name, identityClaim) {
			out[name] = v
		}
	}
	return out
}
