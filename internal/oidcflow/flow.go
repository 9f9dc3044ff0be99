package oidcflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// CookiePrefix starts the name of every flow's transaction cookie.
const CookiePrefix = "jwt_oidc_"

// maxCookie bounds a cookie's name and value together, as browsers do.
const maxCookie = 4096

// Flow runs the authorization code flow of one oidc block. It is safe for
// concurrent use.
type Flow struct {
	cfg    Config
	sealer *Sealer
	once   Once
	cookie string
	aad    []byte
}

// Session is the session a reauthentication steps up: its identity and
// its refresh family.
type Session struct {
	Identity string
	Family   string
}

// Result is a finished login or reauthentication.
type Result struct {
	// Identity is the value of the identity claim.
	Identity string
	// Subject is the ID token's sub.
	Subject string
	// AuthTime is the ID token's auth_time; zero when it has none.
	AuthTime time.Time
	// AMR is the ID token's amr (a single string is taken as a list of
	// one); nil when it has none.
	AMR []string
	// ACR is the ID token's acr; empty when it has none.
	ACR string
	// Claims holds the configured claims that were found, from the ID
	// token or else the user info, as strictjson decodes them (numbers
	// are json.Number). Never nil.
	Claims map[string]any
	// Fresh reports whether AuthTime is within FreshWithin of now.
	Fresh bool
	// ReturnTo is the return_to given to Begin.
	ReturnTo string
	// Reauth is the session given to Begin for a reauthentication; nil
	// for a login.
	Reauth *Session
}

// New validates cfg, fills its defaults and returns the Flow. It does no
// network I/O: the provider is discovered at first use.
func New(cfg Config, sealer *Sealer, once Once) (*Flow, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if sealer == nil || once == nil {
		return nil, errors.New("a flow needs a sealer and a once")
	}
	cookie := CookiePrefix + cfg.Name
	return &Flow{cfg: cfg, sealer: sealer, once: once, cookie: cookie, aad: txAAD(cookie, cfg.Name)}, nil
}

// CookieName is the name of the cookie that carries the flow's sealed
// transaction from Begin to Finish: "jwt_oidc_" + Name.
func (f *Flow) CookieName() string { return f.cookie }

// Config returns the flow's configuration with its defaults filled in
// (TxTTL is the transaction cookie's lifetime).
func (f *Flow) Config() Config {
	c := f.cfg
	c.Scopes, c.Claims = slices.Clone(c.Scopes), slices.Clone(c.Claims)
	return c
}

func (f *Flow) now() time.Time { return f.cfg.Now() }

func internalError(format string, args ...any) *Error {
	return newError(http.StatusInternalServerError, MsgInternal, format, args...)
}

// Begin starts a login, or a reauthentication of the session reauth when
// it is not nil. It returns the provider's authorization URL to redirect
// the browser to, and the sealed transaction to set as the cookie
// CookieName (for Config().TxTTL). redirectURL is the absolute callback
// URL (the glue builds it from the request); returnTo is where Finish's
// Result sends the browser, already made safe by the glue (SafeReturnTo).
// A reauthentication asks the provider for prompt=login and max_age=0.
//
// Errors are *Error: 502 when the provider cannot be discovered, 400 when
// returnTo and the session do not fit a cookie, 500 for a bad redirectURL
// or session (a bug of the caller).
func (f *Flow) Begin(ctx context.Context, redirectURL, returnTo string, reauth *Session) (authURL, sealedTx string, err error) {
	if err := checkRedirect(redirectURL); err != nil {
		return "", "", internalError("%w", err)
	}
	if reauth != nil && reauth.Identity == "" {
		return "", "", internalError("a reauthentication without the session's identity")
	}
	d, err := f.provider(ctx)
	if err != nil {
		return "", "", err
	}
	state, err := randomToken()
	if err != nil {
		return "", "", internalError("random state: %w", err)
	}
	nonce, err := randomToken()
	if err != nil {
		return "", "", internalError("random nonce: %w", err)
	}
	now := f.now()
	tx := &transaction{
		V:        txVersion,
		Kind:     kindLogin,
		State:    state,
		Nonce:    nonce,
		Verifier: oauth2.GenerateVerifier(),
		Redirect: redirectURL,
		ReturnTo: returnTo,
		Began:    now.Unix(),
		Expires:  now.Add(f.cfg.TxTTL).Unix(),
	}
	if reauth != nil {
		tx.Kind, tx.Identity, tx.Family = kindReauth, reauth.Identity, reauth.Family
	}
	sealed, err := f.sealer.sealTx(f.aad, tx)
	if err != nil {
		return "", "", internalError("sealing the transaction: %w", err)
	}
	if len(f.cookie)+1+len(sealed) > maxCookie {
		return "", "", newError(http.StatusBadRequest, MsgTooLarge, "the transaction is %d bytes sealed", len(sealed))
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(tx.Verifier), oidc.Nonce(nonce)}
	if reauth != nil {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return f.oauth2Config(d, redirectURL).AuthCodeURL(state, opts...), sealed, nil
}

func (f *Flow) oauth2Config(d *discovered, redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     f.cfg.ClientID,
		ClientSecret: f.cfg.ClientSecret,
		Endpoint:     d.endpoint(f.cfg.ClientSecret),
		RedirectURL:  redirectURL,
		Scopes:       f.cfg.Scopes,
	}
}

func checkRedirect(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil || u.Fragment != "" || hasControl(raw) {
		return errors.New("the callback URL is not an absolute http(s) URL without fragment")
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return b64.EncodeToString(b), nil
}

// txID is the id a transaction is consumed under: a hash of its state.
func txID(state string) string {
	sum := sha256.Sum256([]byte("oidcflow transaction\x00" + state))
	return b64.EncodeToString(sum[:])
}

// Finish completes the flow at the callback: query is the callback URL's
// query, sealedTx the transaction cookie's value ("" when there is none),
// redirectURL the callback URL as given to Begin. It consumes the
// transaction (at most once, across everything sharing the Once), redeems
// the code with the PKCE verifier, verifies the ID token, and for a
// reauthentication checks auth_time and the identity against the session.
// Errors are *Error; see Error for the statuses.
func (f *Flow) Finish(ctx context.Context, redirectURL string, query url.Values, sealedTx string) (*Result, error) {
	if sealedTx == "" {
		return nil, stateError("no transaction cookie")
	}
	tx, err := f.sealer.openTx(f.aad, sealedTx)
	if err != nil {
		return nil, stateError("%w", err)
	}
	if len(query["state"]) != 1 || query.Get("state") == "" {
		return nil, stateError("the callback has no single state")
	}
	if subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(tx.State)) != 1 {
		return nil, stateError("the callback's state is not the transaction's")
	}
	now := f.now()
	if now.Unix() > tx.Expires {
		return nil, stateError("the transaction expired at %s", time.Unix(tx.Expires, 0).UTC().Format(time.RFC3339))
	}
	if redirectURL != tx.Redirect {
		return nil, stateError("the callback URL is not the one the transaction began with")
	}
	if iss, ok := query["iss"]; ok && (len(iss) != 1 || iss[0] != f.cfg.Issuer) {
		// RFC 9207: the answer comes from another provider (mix-up)
		return nil, stateError("the callback's iss is not the issuer")
	}
	first, err := f.once.Use(ctx, txID(tx.State), time.Unix(tx.Expires, 0))
	if err != nil {
		return nil, internalError("consuming the transaction: %w", err)
	}
	if !first {
		return nil, stateError("the transaction was already used")
	}
	if code := query.Get("error"); code != "" {
		return nil, newError(http.StatusUnauthorized, MsgRefused, "the provider answered error=%s", printable(code, 64))
	}
	code := query.Get("code")
	if code == "" || len(query["code"]) != 1 {
		return nil, stateError("the callback has no single code")
	}
	d, err := f.provider(ctx)
	if err != nil {
		return nil, err
	}
	hctx := oidc.ClientContext(ctx, f.cfg.HTTPClient)
	tok, err := f.oauth2Config(d, redirectURL).Exchange(hctx, code, oauth2.VerifierOption(tx.Verifier))
	if err != nil {
		return nil, exchangeError(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, unavailable("the token response has no id_token")
	}
	res, err := f.verify(hctx, d, tok, rawID, tx, now)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// exchangeError classifies a failed code exchange: invalid_grant means
// the provider refused this code (used, expired, or not issued for this
// verifier and redirect): 401. Anything else means the provider cannot be
// used: 502.
func exchangeError(err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := ""
		if re.Response != nil {
			status = re.Response.Status
		}
		if re.ErrorCode == "invalid_grant" {
			return newError(http.StatusUnauthorized, MsgRefused, "the token endpoint refused the code: %s invalid_grant", printable(status, 64))
		}
		return unavailable("the token endpoint answered %s %s", printable(status, 64), printable(re.ErrorCode, 64))
	}
	return unavailable("code exchange: %w", err)
}

// verify checks the ID token and builds the result.
func (f *Flow) verify(ctx context.Context, d *discovered, tok *oauth2.Token, rawID string, tx *transaction, now time.Time) (*Result, error) {
	leeway := f.cfg.Leeway
	verifier := oidc.NewVerifier(f.cfg.Issuer, d.keys, &oidc.Config{
		ClientID:             f.cfg.ClientID,
		SupportedSigningAlgs: d.algs,
		// go-oidc refuses exp before Now: the leeway moves Now back
		Now: func() time.Time { return now.Add(-leeway) },
	})
	var keysFailed bool
	idt, err := verifier.Verify(context.WithValue(ctx, keysFailedKey{}, &keysFailed), rawID)
	if err != nil {
		if keysFailed {
			return nil, unavailable("fetching the provider's keys: %s", printable(err.Error(), 300))
		}
		return nil, idTokenError("%s", printable(err.Error(), 300))
	}
	if idt.Issuer != f.cfg.Issuer { // go-oidc lets Google's "accounts.google.com" pass
		return nil, idTokenError("iss is not the issuer")
	}
	var raw json.RawMessage
	if err := idt.Claims(&raw); err != nil {
		return nil, idTokenError("reading claims: %w", err)
	}
	claims, fault := strictjson.Decode(raw)
	if fault != strictjson.OK && fault != strictjson.BadChar {
		return nil, idTokenError("the claims are not one unambiguous JSON object (fault %d)", fault)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(tx.Nonce)) != 1 {
		return nil, idTokenError("nonce is not the transaction's")
	}
	if azp, ok := claims["azp"]; ok {
		if s, _ := azp.(string); s != f.cfg.ClientID {
			return nil, idTokenError("azp is not the client_id")
		}
	} else if len(idt.Audience) > 1 {
		return nil, idTokenError("aud has several values and there is no azp")
	}
	if idt.IssuedAt.IsZero() {
		return nil, idTokenError("no iat")
	}
	if idt.IssuedAt.After(now.Add(leeway)) {
		return nil, idTokenError("iat is in the future")
	}
	if sub, _ := claims["sub"].(string); sub == "" || sub != idt.Subject || hasControl(sub) {
		return nil, idTokenError("sub is missing, not a string, or holds a control character")
	}
	res := &Result{Subject: idt.Subject, ReturnTo: tx.ReturnTo, Claims: map[string]any{}}
	if v, ok := claims["auth_time"]; ok {
		t, ok := numericDate(v)
		if !ok {
			return nil, idTokenError("auth_time is not a NumericDate")
		}
		if t.After(now.Add(leeway)) {
			return nil, idTokenError("auth_time is in the future")
		}
		res.AuthTime = t
	}
	if v, ok := claims["amr"]; ok {
		amr, ok := stringList(v)
		if !ok {
			return nil, idTokenError("amr is not an array of strings")
		}
		res.AMR = amr
	}
	if v, ok := claims["acr"]; ok {
		acr, ok := v.(string)
		if !ok || hasControl(acr) {
			return nil, idTokenError("acr is not a string")
		}
		res.ACR = acr
	}

	// the claims missing from the ID token come from the user info
	var info map[string]any
	missing := func(name string) bool { _, ok := claims[name]; return !ok }
	if d.userInfoURL != "" && (missing(f.cfg.IdentityClaim) || slices.ContainsFunc(f.cfg.Claims, missing)) {
		info, err = f.userInfo(ctx, d, tok, idt.Subject)
		if err != nil {
			return nil, err
		}
	}
	lookup := func(name string) (any, map[string]any) {
		if v, ok := claims[name]; ok {
			return v, claims
		}
		if v, ok := info[name]; ok {
			return v, info
		}
		return nil, nil
	}

	v, from := lookup(f.cfg.IdentityClaim)
	identity, _ := v.(string)
	if identity == "" || hasControl(identity) {
		return nil, newError(http.StatusUnauthorized, MsgIdentity, "no string %q claim", f.cfg.IdentityClaim)
	}
	if f.cfg.IdentityClaim == "email" && !emailVerified(from["email_verified"]) {
		return nil, newError(http.StatusUnauthorized, MsgIdentity, "email_verified is not true")
	}
	res.Identity = identity
	for _, name := range f.cfg.Claims {
		v, from := lookup(name)
		if from == nil {
			continue
		}
		if strictjson.HasControlChar(v) {
			return nil, idTokenError("claim %q holds a control character", name)
		}
		res.Claims[name] = v
	}
	res.Fresh = !res.AuthTime.IsZero() && now.Sub(res.AuthTime) <= f.cfg.FreshWithin

	if tx.Kind == kindReauth {
		if res.AuthTime.IsZero() {
			return nil, newError(http.StatusUnauthorized, MsgReauth, "the ID token has no auth_time")
		}
		began := time.Unix(tx.Began, 0)
		if res.AuthTime.Before(began.Add(-leeway)) {
			return nil, newError(http.StatusUnauthorized, MsgReauth, "auth_time %s is before the reauthentication began (%s)", res.AuthTime.UTC().Format(time.RFC3339), began.UTC().Format(time.RFC3339))
		}
		if subtle.ConstantTimeCompare([]byte(identity), []byte(tx.Identity)) != 1 {
			return nil, newError(http.StatusUnauthorized, MsgReauth, "the identity is not the session's")
		}
		res.Reauth = &Session{Identity: tx.Identity, Family: tx.Family}
	}
	return res, nil
}

// userInfo fetches the user info with the access token and checks that
// it is about sub.
func (f *Flow) userInfo(ctx context.Context, d *discovered, tok *oauth2.Token, sub string) (map[string]any, error) {
	ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, unavailable("user info: %s", printable(err.Error(), 300))
	}
	var raw json.RawMessage
	if err := ui.Claims(&raw); err != nil {
		return nil, newError(http.StatusUnauthorized, MsgUserInfo, "reading user info: %w", err)
	}
	info, fault := strictjson.Decode(raw)
	if fault != strictjson.OK && fault != strictjson.BadChar {
		return nil, newError(http.StatusUnauthorized, MsgUserInfo, "the user info is not one unambiguous JSON object (fault %d)", fault)
	}
	if s, _ := info["sub"].(string); s != sub {
		return nil, newError(http.StatusUnauthorized, MsgUserInfo, "the user info's sub is not the ID token's")
	}
	return info, nil
}

// maxNumericDate is 9999-12-31T23:59:59Z, as the token package bounds dates.
const maxNumericDate = 253402300799

// numericDate reads a NumericDate (json.Number as strictjson decodes it),
// rounded down to the second.
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i <= 0 || i > maxNumericDate {
			return time.Time{}, false
		}
		return time.Unix(i, 0), true
	}
	x, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(x) || x <= 0 || x > maxNumericDate {
		return time.Time{}, false
	}
	return time.Unix(int64(math.Floor(x)), 0), true
}

// stringList reads amr: an array of strings, or a single string.
func stringList(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		if hasControl(x) {
			return nil, false
		}
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok || hasControl(s) {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// emailVerified reports whether email_verified is true: the boolean, or
// the string "true" as some providers send it.
func emailVerified(v any) bool {
	return v == true || v == "true"
}
