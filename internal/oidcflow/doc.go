// Package oidcflow is the relying party side of OpenID Connect's
// authorization code flow, with PKCE (S256), state and nonce, for logins
// and reauthentications at the edge. It knows nothing of Caddy: the root
// package's glue turns requests into calls and results into tokens.
//
// # Use
//
//	key, err := oidcflow.LoadOrCreateKey(ctx, storage, "jwt/oidc/tx.key")
//	sealer, err := oidcflow.NewSealer(key)
//	once := oidcflow.NewStorageOnce(storage, "jwt/oidc/used", now)
//	flow, err := oidcflow.New(oidcflow.Config{Name: "corp", Issuer: ..., ClientID: ...}, sealer, once)
//
// At the login route (or the reauth route, with the session's identity
// and refresh family):
//
//	authURL, sealedTx, err := flow.Begin(ctx, callbackURL, oidcflow.SafeReturnTo(rt, origins), nil)
//	// set cookie flow.CookieName() = sealedTx (HttpOnly, for flow.Config().TxTTL); 302 to authURL
//
// At the callback route:
//
//	res, err := flow.Finish(ctx, callbackURL, r.URL.Query(), cookieValue)
//	// clear the cookie; on err answer err.(*oidcflow.Error).Status with its Msg;
//	// else mint from res (res.Reauth != nil: in res.Reauth.Family) and 303 to res.ReturnTo
//
// and now and then once.Sweep(ctx).
//
// # The transaction
//
// Begin draws the state and the nonce (32 random bytes each, base64url)
// and a PKCE verifier, and seals them with the callback URL, the
// return_to, the kind (login or reauth), the time it began, its expiry
// (began + TxTTL) and, for a reauthentication, the session, into one
// cookie value: base64url(nonce || AES-256-GCM ciphertext), the additional
// data binding the cookie name and the flow name. So any instance that
// shares the key can finish the login, and a value moved to another flow's
// cookie does not open. Finish opens it, compares the callback's state in
// constant time, checks the expiry and the callback URL, and consumes the
// transaction through the Once before anything else: a callback is
// finished at most once, even by two instances at the same moment.
//
// # The provider
//
// Discovery ("/.well-known/openid-configuration" of Issuer, whose issuer
// must equal Issuer exactly) happens at first use, with a timeout, and is
// cached per issuer for the process: a new Flow for the same issuer (a
// config reload) reuses the discovered provider and its cached keys. A
// cached provider older than an hour is discovered again in the
// background while it keeps serving; a failed discovery keeps the last
// good one, and without one answers 502 (retried at most every 10s).
//
// The ID token is verified with go-oidc: the provider's keys (fetched
// again for an unknown kid), only the algorithms discovery lists among
// RS*, PS*, ES* and EdDSA (never none or HMAC; a discovery listing none of
// them fails), iss exactly Issuer, aud holding ClientID, azp equal to
// ClientID when present (and required when aud has several values), exp
// not before now - Leeway, iat present and not after now + Leeway, nonce
// equal to the transaction's, and claims that are one unambiguous JSON
// object (no duplicate names). auth_time, when present, is a NumericDate
// not after now + Leeway; amr is an array of strings (a single string is
// taken as one); acr a string.
//
// The identity is the IdentityClaim's string value (from the user info
// when the ID token lacks it); "email" needs email_verified true, from the
// same source. Claims missing from the ID token are taken from the user
// info when the provider has a userinfo endpoint; the user info's sub must
// equal the ID token's.
//
// A login is fresh when auth_time is within FreshWithin of now; without
// auth_time it is not fresh. A reauthentication asks for prompt=login and
// max_age=0, and needs auth_time at or after the moment Begin ran (rounded
// down to the second) minus Leeway, and the session's identity: else 401
// "Reauthentication failed".
//
// Every failure is an *Error with the status to answer, a phrase safe to
// show, and a cause to log; see Error.
package oidcflow
