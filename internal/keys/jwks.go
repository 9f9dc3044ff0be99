package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// Remote JWK Sets (jwks_url).
//
// Each URL is fetched in the background once the app starts (never in
// Provision, so `caddy validate` needs no network), then every
// jwks_refresh. A token whose kid is unknown asks for an early refresh, at
// most once per jwks_refresh per URL; the request that asked is refused
// ("Unknown key id") and never waits, later requests see the new keys. When
// a fetch fails the last good set is kept and the error is logged.
const (
	DefaultJWKSRefresh = 15 * time.Minute
	// MaxJWKSBytes bounds a JWK Set response.
	MaxJWKSBytes = 1 << 20
	// jwksFetchTimeout bounds one fetch, connection to last byte.
	jwksFetchTimeout = 10 * time.Second
	// maxJWKSRedirects bounds the redirects one fetch follows.
	maxJWKSRedirects = 3
)

// jwksSource is one remote JWK Set.
type jwksSource struct {
	url    string
	ring   *Ring
	client *http.Client
	keys   atomic.Pointer[[]*jws.Key]
	// kick asks the fetch loop for an early refresh.
	kick chan struct{}
	// lastKick is the unix nano time of the last unknown-kid refresh.
	lastKick atomic.Int64
}

func newJWKSSource(url string, k *Ring) *jwksSource {
	return &jwksSource{
		url:    url,
		ring:   k,
		client: &http.Client{Timeout: jwksFetchTimeout, CheckRedirect: sameOriginRedirects},
		kick:   make(chan struct{}, 1),
	}
}

// sameOriginRedirects is the redirect policy of jwks_url fetches: a
// redirect is followed only within the configured URL's origin (scheme,
// host and port), at most maxJWKSRedirects times. The operator trusts the
// keys served at that origin; a redirect elsewhere (another host, another
// port, https to http) would hand that trust to whoever the origin, or
// anyone who can inject a Location header, points at. The request to the
// other origin is never sent.
func sameOriginRedirects(req *http.Request, via []*http.Request) error {
	if len(via) > maxJWKSRedirects {
		return fmt.Errorf("stopped after %d redirects", maxJWKSRedirects)
	}
	from := via[0].URL
	if origin(req.URL) != origin(from) {
		return fmt.Errorf("the JWK Set redirects to %s, another origin than %s; jwks_url follows redirects only within its scheme, host and port, so set jwks_url to the final URL if you trust it",
			redactURL(req.URL), origin(from))
	}
	return nil
}

// origin is a URL's scheme, host and port (the default port when none is
// given), in lower case.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// redactURL is u for a log or an error: without user info or query,
// which may hold credentials.
func redactURL(u *url.URL) string {
	r := *u
	r.User, r.RawQuery, r.ForceQuery, r.Fragment, r.RawFragment = nil, "", false, "", ""
	return r.String()
}

// current returns the last good keys of the source.
func (s *jwksSource) current() []*jws.Key {
	if p := s.keys.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *jwksSource) logCollision(kid, other string) {
	s.ring.logger.Warn("ignoring a remote key whose kid is already used by another key",
		zap.String("jwks_url", s.url), zap.String("kid", kid), zap.String("kept", other))
}

// LastGood keeps the last good JWK Set of each jwks_url beyond one Ring:
// across config reloads (in memory) and restarts (in storage). A Ring asks
// it once per URL, in Load, for the set to start with, and tells it each
// set a fetch installs. The set is the JSON as fetched; a Ring checks it
// exactly like a fetched one, so a LastGood never has to be trusted more
// than the identity provider. It must only ever return the set saved for
// the same URL: trust never carries from one URL to another.
type LastGood interface {
	// Load returns the JSON of the last good set of url, or nil.
	Load(url string) []byte
	// Save records the JSON of a set fetched from url that replaced a
	// different one (or none). It is called on the fetch loop.
	Save(url string, set []byte)
}

// fetch downloads, parses and installs the set once. On error the last
// good set stays.
func (s *jwksSource) fetch(ctx context.Context) error {
	body, err := s.download(ctx)
	if err != nil {
		return err
	}
	keys, err := s.parse(body)
	if err != nil {
		return err
	}
	if sameKeys(s.current(), keys) {
		// unchanged: keep the snapshot, and so the verified-token cache
		return nil
	}
	s.keys.Store(&keys)
	s.ring.rebuild()
	s.ring.logger.Debug("fetched remote JWK Set", zap.String("jwks_url", s.url), zap.Int("keys", len(keys)))
	if s.ring.lastGood != nil {
		s.ring.lastGood.Save(s.url, body)
	}
	return nil
}

// download GETs the set, bounded in time and size.
func (s *jwksSource) download(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "caddy-jwt-extended")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %v", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("the response is larger than %d bytes", MaxJWKSBytes)
	}
	return body, nil
}

// parse checks a remote set, fetched or kept, and returns its usable keys,
// each bound to one algorithm; skipped keys are logged.
func (s *jwksSource) parse(body []byte) ([]*jws.Key, error) {
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("the set is larger than %d bytes", MaxJWKSBytes)
	}
	keys, skipped, err := parseJWKSet(body, false)
	for _, e := range skipped {
		s.ring.logger.Warn("skipping a key of a remote JWK Set", zap.String("jwks_url", s.url), zap.Error(e))
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWK Set has no usable signature key")
	}
	for _, vk := range keys {
		vk.Source = "jwks_url " + s.url
	}
	return keys, nil
}

// restore installs the last good set kept by lastGood, if any, before the
// first fetch (Load calls it; the caller rebuilds the snapshot). A kept set
// that does not pass the checks of a fetched one is ignored, with a warning.
func (s *jwksSource) restore(lastGood LastGood) {
	body := lastGood.Load(s.url)
	if body == nil {
		return
	}
	keys, err := s.parse(body)
	if err != nil {
		s.ring.logger.Warn("ignoring the kept last good JWK Set; waiting for the first fetch",
			zap.String("jwks_url", s.url), zap.Error(err))
		return
	}
	s.keys.Store(&keys)
	s.ring.logger.Info("using the last good JWK Set kept from an earlier load until the first fetch",
		zap.String("jwks_url", s.url), zap.Int("keys", len(keys)))
}

// refresh fetches once, counts the fetch and logs a failure.
func (s *jwksSource) refresh(ctx context.Context) error {
	err := s.fetch(ctx)
	if ctx.Err() == nil {
		s.ring.fetched(err == nil)
	}
	if err != nil && ctx.Err() == nil {
		s.ring.logger.Error("fetching remote JWK Set failed; keeping the last good keys",
			zap.String("jwks_url", s.url), zap.Int("kept_keys", len(s.current())), zap.Error(err))
	}
	return err
}

// Refresh fetches every remote JWK Set once now, as the background loop
// does (counted, failures logged and the last good set kept), and returns
// the fetches' errors.
func (k *Ring) Refresh(ctx context.Context) error {
	var errs []error
	for _, s := range k.remotes {
		if err := s.refresh(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
		}
	}
	return errors.Join(errs...)
}

// sameKeys reports whether two key lists hold the same kids, algorithms
// and public keys, in the same order.
func sameKeys(a, b []*jws.Key) bool {
	if len(a) != len(b) {
		return false
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	for i := range a {
		x, y := a[i], b[i]
		eq, ok := x.Material.(equaler)
		if x.KID != y.KID || x.Alg != y.Alg || !ok || !eq.Equal(y.Material) {
			return false
		}
	}
	return true
}

// run fetches now, then every interval and on demand, until ctx ends.
func (s *jwksSource) run(ctx context.Context, interval time.Duration) {
	fetch := func() { _ = s.refresh(ctx) }
	fetch()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fetch()
		case <-s.kick:
			fetch()
		}
	}
}

// requestRefresh asks for an early fetch because a token named an unknown
// kid, at most once per interval; it never blocks.
func (s *jwksSource) requestRefresh(now time.Time, interval time.Duration) bool {
	last := s.lastKick.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < interval {
		return false
	}
	if !s.lastKick.CompareAndSwap(last, now.UnixNano()) {
		return false // another request just did it
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return true
}

// unknownKID is called on the request path for a kid no key has.
func (k *Ring) unknownKID() {
	now := k.now()
	for _, s := range k.remotes {
		s.requestRefresh(now, k.refresh)
	}
}

// Start begins fetching the remote JWK Sets in the background.
func (k *Ring) Start() error {
	if len(k.remotes) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.stopBG = cancel
	for _, s := range k.remotes {
		k.wg.Add(1)
		go func(s *jwksSource) {
			defer k.wg.Done()
			s.run(ctx, k.refresh)
		}(s)
	}
	return nil
}

// Stop ends the background fetches and waits for them.
func (k *Ring) Stop() error {
	if k.stopBG != nil {
		k.stopBG()
		k.wg.Wait()
		k.stopBG = nil
	}
	return nil
}

// PublicJWKS returns our JWK Set: the public halves of the local
// asymmetric keys (the signing key and every public_key), each with kid,
// alg and use. HMAC secrets and private parts never appear.
func (k *Ring) PublicJWKS() []byte {
	return k.jwks
}

func publicJWKSOf(keys []*jws.Key) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, vk := range keys {
		switch vk.Material.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue // an HMAC secret is never published
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: vk.Material, KeyID: vk.KID, Algorithm: vk.Alg, Use: "sig"})
	}
	return json.Marshal(set)
}
