package oidcflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	// discoveryTimeout bounds one discovery, whoever waits for it.
	discoveryTimeout = 10 * time.Second
	// rediscoverAfter is the age past which a discovered provider is
	// discovered again, in the background, while the old one serves.
	rediscoverAfter = time.Hour
	// retryAfterFailure is how long after a failed discovery no new one
	// is started: meanwhile the last good provider serves, or, without
	// one, the failure is answered again.
	retryAfterFailure = 10 * time.Second
	// maxProviders bounds the cache; the least recently used issuer
	// without a discovery in flight goes first.
	maxProviders = 64
)

// signingAlgs are the ID token algorithms this package accepts, when the
// provider's discovery lists them: asymmetric ones only, never none and
// never HMAC (an HMAC key would be the client secret, which a relying
// party at the edge must not be able to sign with).
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.EdDSA,
}

// discovered is what one discovery of an issuer found.
type discovered struct {
	provider *oidc.Provider
	// keys verifies ID tokens; kept across rediscoveries that find the
	// same jwks_uri, so reloads and refreshes keep the cached keys.
	keys        *keySet
	jwksURL     string
	algs        []string // discovery's, filtered by signingAlgs
	authMethods []string // token_endpoint_auth_methods_supported
	userInfoURL string
	at          time.Time
}

// endpoint returns the provider's endpoints with the client
// authentication for secret: none for a public client (client_id in the
// body), else client_secret_basic unless discovery lists only
// client_secret_post.
func (d *discovered) endpoint(secret string) oauth2.Endpoint {
	ep := d.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if secret == "" || len(d.authMethods) > 0 && !slices.Contains(d.authMethods, "client_secret_basic") && slices.Contains(d.authMethods, "client_secret_post") {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return ep
}

// providerEntry is the cache's state for one issuer.
type providerEntry struct {
	cur      *discovered // the last good discovery; nil until one succeeds
	inflight *discovery  // the discovery under way, if any
	lastErr  error
	retryAt  time.Time
	used     time.Time
}

// discovery is one discovery in flight: done is closed when d or err is set.
type discovery struct {
	done chan struct{}
	d    *discovered
	err  error
}

// providers is the package's cache of discovered providers by issuer,
// shared by every Flow, so that a new Flow for the same issuer (a config
// reload) reuses the discovered provider and its cached keys, and keeps
// using them when discovery fails.
var providers = struct {
	sync.Mutex
	m map[string]*providerEntry
}{m: map[string]*providerEntry{}}

// provider returns the issuer's discovered provider: the cached one when
// there is one (starting a rediscovery in the background when it is old),
// else the result of a discovery, shared with every caller that waits for
// the same issuer. A failure with nothing cached is an *Error of status
// 502.
func (f *Flow) provider(ctx context.Context) (*discovered, error) {
	issuer, now := f.cfg.Issuer, f.now()
	providers.Lock()
	e := providers.m[issuer]
	if e == nil {
		evictProvider()
		e = &providerEntry{}
		providers.m[issuer] = e
	}
	e.used = now
	if e.cur != nil {
		if now.Sub(e.cur.at) >= rediscoverAfter && e.inflight == nil && !now.Before(e.retryAt) {
			f.startDiscovery(e)
		}
		d := e.cur
		providers.Unlock()
		return d, nil
	}
	if e.inflight == nil {
		if now.Before(e.retryAt) {
			err, retryAt := e.lastErr, e.retryAt
			providers.Unlock()
			return nil, unavailable("discovery failed (not retried before %s): %w", retryAt.UTC().Format(time.RFC3339), err)
		}
		f.startDiscovery(e)
	}
	call := e.inflight
	providers.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, unavailable("waiting for discovery: %w", ctx.Err())
	}
	if call.err != nil {
		return nil, unavailable("discovery: %w", call.err)
	}
	return call.d, nil
}

// startDiscovery starts a discovery of e's issuer; the caller holds
// providers' lock. The discovery runs with its own deadline, so that a
// caller that stops waiting does not fail it for the others.
func (f *Flow) startDiscovery(e *providerEntry) {
	call := &discovery{done: make(chan struct{})}
	e.inflight = call
	prev := e.cur
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
		defer cancel()
		d, err := discover(ctx, f.cfg.Issuer, f.cfg.HTTPClient, prev)
		now := f.now()
		providers.Lock()
		if err == nil {
			d.at = now
			e.cur = d
		} else {
			e.lastErr = err
			e.retryAt = now.Add(retryAfterFailure)
		}
		e.inflight = nil
		call.d, call.err = d, err
		close(call.done)
		providers.Unlock()
	}()
}

// evictProvider makes room for one more issuer; the caller holds
// providers' lock.
func evictProvider() {
	if len(providers.m) < maxProviders {
		return
	}
	var oldest string
	var oldestUsed time.Time
	for issuer, e := range providers.m {
		if e.inflight != nil {
			continue
		}
		if oldest == "" || e.used.Before(oldestUsed) {
			oldest, oldestUsed = issuer, e.used
		}
	}
	if oldest != "" {
		delete(providers.m, oldest)
	}
}

// discover runs OpenID Connect discovery for issuer with client. The key
// set of prev is kept when the jwks_uri has not changed.
func discover(ctx context.Context, issuer string, client *http.Client, prev *discovered) (*discovered, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return nil, errors.New(printable(err.Error(), 300))
	}
	var meta struct {
		JWKSURI     string   `json:"jwks_uri"`
		Algs        []string `json:"id_token_signing_alg_values_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("reading the discovery document: %w", err)
	}
	ep := p.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" || meta.JWKSURI == "" {
		return nil, errors.New("the discovery document lacks authorization_endpoint, token_endpoint or jwks_uri")
	}
	d := &discovered{provider: p, jwksURL: meta.JWKSURI, authMethods: meta.AuthMethods, userInfoURL: p.UserInfoEndpoint()}
	for _, a := range meta.Algs {
		if slices.Contains(signingAlgs, a) && !slices.Contains(d.algs, a) {
			d.algs = append(d.algs, a)
		}
	}
	if len(d.algs) == 0 {
		return nil, fmt.Errorf("id_token_signing_alg_values_supported lists no usable algorithm (%s)", printable(fmt.Sprint(meta.Algs), 100))
	}
	if prev != nil && prev.jwksURL == d.jwksURL {
		d.keys = prev.keys
	} else {
		d.keys = &keySet{remote: oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), d.jwksURL)}
	}
	return d, nil
}

// keySet is the provider's remote key set, telling the caller of Verify
// (through a flag in the context) when the keys could not be fetched:
// go-oidc's verifier folds that into a plain error.
type keySet struct {
	remote *oidc.RemoteKeySet
}

type keysFailedKey struct{}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	// RemoteKeySet wraps an error only when fetching the keys failed; a
	// signature no key verifies is a plain error.
	if err != nil && errors.Unwrap(err) != nil {
		if flag, ok := ctx.Value(keysFailedKey{}).(*bool); ok {
			*flag = true
		}
	}
	return payload, err
}
