package oidcflow

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Defaults of a zero Config field.
const (
	DefaultIdentityClaim = "sub"
	DefaultFreshWithin   = 5 * time.Minute
	DefaultTxTTL         = 10 * time.Minute
	DefaultHTTPTimeout   = 10 * time.Second
)

// DefaultScopes are the scopes of a Config without Scopes.
var DefaultScopes = []string{"openid", "email", "profile"}

// maxResponseBody bounds every body read from the provider (discovery,
// keys, token response, user info): go-oidc reads them whole.
const maxResponseBody = 1 << 20

// maxNameLen bounds Config.Name, which goes into a cookie name.
const maxNameLen = 64

// Config configures a Flow. New fills the zero fields with their defaults.
type Config struct {
	// Name is the oidc block's name: the cookie name and the sealing's
	// additional data hold it, and the glue puts it into tokens as idp.
	// Letters, digits, '-' and '_', at most 64.
	Name string
	// Issuer is the provider's issuer URL. Discovery reads
	// Issuer + "/.well-known/openid-configuration", whose issuer, and
	// every ID token's iss, must equal it exactly.
	Issuer string
	// ClientID is this relying party's client id at the provider.
	ClientID string
	// ClientSecret is the client secret; empty: a public client, which
	// relies on PKCE alone.
	ClientSecret string
	// Scopes asked for; nil: openid email profile. openid is added when
	// missing.
	Scopes []string
	// IdentityClaim names the claim that is the user's identity; empty:
	// sub. "email" is only accepted with email_verified true (the boolean,
	// or the string "true").
	IdentityClaim string
	// Claims are the claims copied into Result.Claims. One missing from
	// the ID token is taken from the user info when the provider has a
	// userinfo endpoint.
	Claims []string
	// FreshWithin: a login is fresh only if auth_time is within it of
	// now; a login without auth_time is never fresh. Zero: 5m.
	FreshWithin time.Duration
	// Leeway is the app's clock leeway, for exp, iat and auth_time.
	Leeway time.Duration
	// TxTTL is how long a transaction (Begin to Finish) lives. Zero: 10m.
	TxTTL time.Duration
	// HTTPClient is used for discovery, keys, the token exchange and user
	// info. It must have a Timeout. Nil: a client with a 10s timeout.
	// Bodies read through it are bounded to 1 MiB.
	HTTPClient *http.Client
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// withDefaults validates c and returns it with its defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if !validName(c.Name) {
		return c, fmt.Errorf("oidc name %q: want 1 to %d letters, digits, '-' or '_'", c.Name, maxNameLen)
	}
	if err := checkIssuer(c.Issuer); err != nil {
		return c, err
	}
	if c.ClientID == "" || hasControl(c.ClientID) {
		return c, errors.New("client_id is empty or holds a control character")
	}
	if hasControl(c.ClientSecret) {
		return c, errors.New("client_secret holds a control character")
	}
	scopes := c.Scopes
	if scopes == nil {
		scopes = DefaultScopes
	}
	c.Scopes = nil
	if !slices.Contains(scopes, "openid") {
		c.Scopes = append(c.Scopes, "openid")
	}
	for _, s := range scopes {
		if !validScope(s) {
			return c, fmt.Errorf("scope %q is not a valid scope token", s)
		}
		if !slices.Contains(c.Scopes, s) {
			c.Scopes = append(c.Scopes, s)
		}
	}
	if c.IdentityClaim == "" {
		c.IdentityClaim = DefaultIdentityClaim
	}
	if hasControl(c.IdentityClaim) {
		return c, errors.New("identity_claim holds a control character")
	}
	seen := map[string]bool{}
	for _, name := range c.Claims {
		if name == "" || hasControl(name) {
			return c, fmt.Errorf("claim name %q is empty or holds a control character", name)
		}
		if seen[name] {
			return c, fmt.Errorf("claim %q is listed twice", name)
		}
		seen[name] = true
	}
	c.Claims = slices.Clone(c.Claims)
	switch {
	case c.FreshWithin < 0:
		return c, errors.New("fresh_within is negative")
	case c.FreshWithin == 0:
		c.FreshWithin = DefaultFreshWithin
	}
	if c.Leeway < 0 {
		return c, errors.New("leeway is negative")
	}
	switch {
	case c.TxTTL < 0:
		return c, errors.New("transaction lifetime is negative")
	case c.TxTTL == 0:
		c.TxTTL = DefaultTxTTL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.HTTPClient.Timeout <= 0 {
		return c, errors.New("the HTTP client has no timeout")
	}
	c.HTTPClient = boundedClient(c.HTTPClient)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validScope reports whether s is a scope token (RFC 6749, section 3.3).
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || issuer == "" {
		return fmt.Errorf("issuer %q is not a URL", issuer)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || hasControl(issuer) {
		return fmt.Errorf("issuer %q: want an http or https URL with a host and no query, fragment or user", issuer)
	}
	return nil
}

// hasControl reports whether s holds a control character (below 0x20, or
// 0x7f).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// boundedClient returns a copy of c whose response bodies fail past
// maxResponseBody.
func boundedClient(c *http.Client) *http.Client {
	cp := *c
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp.Transport = boundedTransport{next: next}
	return &cp
}

type boundedTransport struct{ next http.RoundTripper }

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{r: resp.Body, left: maxResponseBody}
	return resp, nil
}

var errBodyTooLarge = errors.New("response body over 1 MiB")

// boundedBody reads at most left bytes and then fails, so that a body
// that is too large is an error rather than silently cut.
type boundedBody struct {
	r    io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), errBodyTooLarge
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.r.Close() }
