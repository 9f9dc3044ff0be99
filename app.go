// Package jwtextended is a Caddy v2 module that brings flask-jwt-extended's
// token model (access and refresh tokens, fresh tokens, revocation, cookies
// with CSRF protection) to the edge.
//
// The `jwt` app owns keys, lifetimes, token sources and the revocation
// store; the handlers `jwt_auth` (verify) and `jwt_issue` (mint) are thin
// and share it.
package jwtextended

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

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
	JWKSRefresh WeakDuration `json:"jwks_refresh,omitempty"`

	// Minted as `iss`; when set, verification requires it.
	Issuer string `json:"issuer,omitempty"`

	// Minted as `aud`; when set, verification requires one of them.
	Audience []string `json:"audience,omitempty"`

	// Clock skew allowed when checking exp, nbf and iat. Default: 0.
	Leeway WeakDuration `json:"leeway,omitempty"`

	// Lifetime of access tokens. Default: 15m.
	AccessTTL WeakDuration `json:"access_ttl,omitempty"`

	// Lifetime of refresh tokens. Default: 720h.
	RefreshTTL WeakDuration `json:"refresh_ttl,omitempty"`

	// When unset, tokens minted by a login carry `fresh: true`. When set,
	// they carry `fresh: <unix time now + fresh_for>`.
	FreshFor WeakDuration `json:"fresh_for,omitempty"`

	// The claim that names the user. Default: sub.
	IdentityClaim string `json:"identity_claim,omitempty"`

	// Where and under which names tokens are looked up (token_from,
	// header_name, header_type, query_param, json_key, refresh_json_key).
	// A handler's own settings of the same names take precedence.
	TokenLookup

	// The key of the message in every JSON refusal, login failures
	// included (JWT_ERROR_MESSAGE_KEY). Default: msg.
	MessageKey string `json:"message_key,omitempty"`

	// The names and attributes of the token cookies and their CSRF
	// cookies.
	Cookie *CookieConfig `json:"cookie,omitempty"`

	// The double submit CSRF check of tokens read from cookies.
	CSRF *CSRFConfig `json:"csrf,omitempty"`

	// Cross-origin requests from the listed origins: the module answers
	// CORS preflights on its routes and adds the CORS response headers to
	// its answers and to the upstream's.
	CORS *CORSConfig `json:"cors,omitempty"`

	// How often the in-memory set of revoked token ids is refreshed from
	// Caddy's storage (the global `storage` option), so that revocations
	// made by other instances sharing it are seen. A revocation is visible
	// on the instance that made it at once, and on every other instance
	// within revocation_sync plus the time one listing of the storage
	// takes. At least 100ms. Default: 4s, which keeps the contract's bound
	// of 5 seconds with room for the listing itself.
	RevocationSync WeakDuration `json:"revocation_sync,omitempty"`

	// How many verified tokens are remembered, so that a token seen again
	// skips decoding and the signature check (expiry, revocation and
	// freshness are still checked on every request). Default: 10000;
	// 0 disables the cache.
	CacheSize WeakInt `json:"cache_size,omitempty"`

	// The services built from the settings (app_build.go).
	core

	// tokenFromSet: token_from was configured; otherwise the default
	// lookup is header, and header cookie once a jwt_issue of this
	// config delivers cookies (see cookiesDelivered).
	tokenFromSet bool
	// cookieDelivery: a jwt_issue of this config delivers cookies;
	// authFollows: a jwt_auth of it uses the app's token_from.
	cookieDelivery, authFollows bool
	logger                      *zap.Logger
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

// appJSON is App without its JSON method.
type appJSON App

// UnmarshalJSON reads the app's settings, refusing unknown keys as Caddy
// does, and the old name of revocation_sync with a pointer to the new one.
func (a *App) UnmarshalJSON(b []byte) error {
	var old struct {
		Revocation *struct {
			SyncInterval json.RawMessage `json:"sync_interval"`
		} `json:"revocation"`
	}
	if json.Unmarshal(b, &old) == nil && old.Revocation != nil {
		return fmt.Errorf(`jwt: "revocation": {"sync_interval": ...} is now "revocation_sync": ..., the name the Caddyfile uses`)
	}
	// strictly, as Caddy reads every config: an unknown key is refused
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*appJSON)(a))
}

// Provision builds the app from its settings (app_build.go): keys, the
// generated key (created on first use), verifier, minter, revocation store,
// cookies and CSRF, metrics and events. Everything the request path needs
// is prepared here.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.appIfConfigured = ctx.AppIfConfigured
	events, err := newAppEvents(ctx)
	if err != nil {
		return err
	}
	return a.build(buildEnv{
		ctx:       ctx,
		storage:   ctx.Storage(),
		metrics:   ctx.GetMetricsRegistry(),
		events:    events,
		createKey: true,
		shared:    true,
	})
}

// Validate refuses settings that cannot work, naming the setting and the
// fix.
func (a *App) Validate() error {
	r := a.resolved
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"leeway", r.leeway}, {"access_ttl", r.accessTTL}, {"refresh_ttl", r.refreshTTL}, {"fresh_for", r.freshFor}, {"jwks_refresh", r.jwksRefresh}} {
		if d.v < 0 {
			return fmt.Errorf("jwt: %s must not be negative (got %s)", d.name, d.v)
		}
	}
	if r.refreshTTL < r.accessTTL {
		return fmt.Errorf("jwt: refresh_ttl (%s) is shorter than access_ttl (%s): a refresh token would expire before the access token it renews; "+
			"make refresh_ttl longer (default 720h) or access_ttl shorter (default 15m)", r.refreshTTL, r.accessTTL)
	}
	if r.cacheSize < 0 {
		return fmt.Errorf("jwt: cache_size must be 0 (off) or more (got %d)", r.cacheSize)
	}
	// compared as the verifier compares claim names: "Type" beside the
	// minted "type" would make every token a duplicate-name refusal
	if a.IdentityClaim != defaultIdentityClaim && token.CollidesWithReserved(a.IdentityClaim) {
		return fmt.Errorf("jwt: identity_claim %q names (up to case) a claim the module sets itself (sub, type, fresh, jti, iat, nbf, exp, iss, aud, csrf, fam); "+
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
	return errors.Join(errs...)
}

// clock reads the app's clock.
func (a *App) clock() time.Time { return a.now() }

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
