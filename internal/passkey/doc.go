// Package passkey is the Caddy-free core of jwt_issue's passkey routes
// (issue 21): the WebAuthn ceremonies of go-webauthn (registering a
// passkey, signing in with a discoverable credential, and stepping up
// with one of the session's own credentials), the ceremonies' state and
// the credential store, both kept in a certmagic.Storage (Caddy's
// storage) so that every instance sharing it can finish what another
// began.
//
// Storage layout, under the prefix given to New (jwt/passkey):
//
//	ceremonies/<UTC hour of expiry>/<hex sha256 of the ceremony id>   one begun ceremony (JSON), deleted when finished
//	users/<hex sha256 of the identity>                               the identity's user handle and credentials (JSON)
//	handles/<base64url user handle>                                  the identity a user handle stands for
//	credentials/<base64url credential id>                            the identity a credential belongs to
//
// The browser carries only the ceremony's opaque id: the challenge, the
// relying party and the user stay in storage. A ceremony expires after
// two minutes and is finished at most once: Finish takes the ceremony's
// lock, reads it and deletes it before anything else, so a second finish,
// on this instance or another, finds nothing.
//
// The clock is injected (Config.Now), so tests move time by hand.
package passkey
