package passkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// storageTimeout bounds one storage operation with its lock.
const storageTimeout = 10 * time.Second

// userHandleBytes is the size of the random user handle given to
// authenticators for an identity (WebAuthn allows at most 64).
const userHandleBytes = 32

// Credential is one registered passkey as the store keeps it.
type Credential struct {
	// ID is the credential id, raw.
	ID []byte `json:"id"`
	// PublicKey is the COSE public key.
	PublicKey []byte `json:"public_key"`
	// SignCount is the last signature counter seen.
	SignCount uint32 `json:"sign_count"`
	// BackupEligible and BackedUp are the BE and BS flags last seen.
	BackupEligible bool `json:"backup_eligible"`
	BackedUp       bool `json:"backed_up"`
	// UserVerified: the registration verified the user.
	UserVerified bool `json:"user_verified"`
	// AAGUID names the authenticator's model (all zero with attestation
	// none from many authenticators).
	AAGUID []byte `json:"aaguid,omitempty"`
	// Transports the browser reported.
	Transports []string `json:"transports,omitempty"`
	// AttestationFormat is the attestation statement's format (none).
	AttestationFormat string `json:"attestation_format,omitempty"`
	// Name is the user's name for it.
	Name string `json:"name"`
	// Created and LastUsed are when it was registered and last asserted.
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	// Claims are the identity's claims when the passkey was registered,
	// without the names the module sets.
	Claims map[string]any `json:"claims,omitempty"`
}

// EncodedID is the credential id as the browser writes it: base64url
// without padding.
func (c *Credential) EncodedID() string { return base64.RawURLEncoding.EncodeToString(c.ID) }

// record is an identity's entry in the store.
type record struct {
	Identity    string       `json:"identity"`
	Handle      []byte       `json:"user_handle"`
	Credentials []Credential `json:"credentials,omitempty"`
}

// webauthnUser is a record as go-webauthn's User.
type webauthnUser struct{ rec *record }

func (u webauthnUser) WebAuthnID() []byte          { return u.rec.Handle }
func (u webauthnUser) WebAuthnName() string        { return u.rec.Identity }
func (u webauthnUser) WebAuthnDisplayName() string { return u.rec.Identity }
func (u webauthnUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.rec.Credentials))
	for i, c := range u.rec.Credentials {
		out[i] = c.webauthn()
	}
	return out
}

// webauthn is the credential as go-webauthn verifies an assertion with.
func (c *Credential) webauthn() webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: c.ID, PublicKey: c.PublicKey, AttestationFormat: c.AttestationFormat, Transport: transports,
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: c.UserVerified, BackupEligible: c.BackupEligible, BackupState: c.BackedUp},
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}

// store is the credential store on a certmagic.Storage.
type store struct {
	s      certmagic.Storage
	prefix string
}

func hexHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (st *store) userKey(identity string) string { return st.prefix + "/users/" + hexHash(identity) }
func (st *store) handleKey(h []byte) string {
	return st.prefix + "/handles/" + base64.RawURLEncoding.EncodeToString(h)
}
func (st *store) credentialKey(id []byte) string {
	return st.prefix + "/credentials/" + base64.RawURLEncoding.EncodeToString(id)
}

// load reads an identity's record; nil when it has none.
func (st *store) load(ctx context.Context, identity string) (*record, error) {
	b, err := st.s.Load(ctx, st.userKey(identity))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading passkeys: %w", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("reading passkeys: %w", err)
	}
	if rec.Identity != identity {
		return nil, errors.New("reading passkeys: the record names another identity")
	}
	return &rec, nil
}

// byHandle reads the record of the identity a user handle stands for;
// nil when the handle is unknown.
func (st *store) byHandle(ctx context.Context, handle []byte) (*record, error) {
	if len(handle) == 0 || len(handle) > protocol.MaximumUserHandleLength {
		return nil, nil
	}
	b, err := st.s.Load(ctx, st.handleKey(handle))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading a user handle: %w", err)
	}
	rec, err := st.load(ctx, string(b))
	if err != nil || rec == nil {
		return nil, err
	}
	if string(rec.Handle) != string(handle) {
		return nil, nil
	}
	return rec, nil
}

func (st *store) save(ctx context.Context, rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := st.s.Store(ctx, st.userKey(rec.Identity), b); err != nil {
		return fmt.Errorf("storing passkeys: %w", err)
	}
	return nil
}

// update runs fn on the identity's record under the identity's lock and
// stores the result when fn returns nil. create makes a record with a
// new user handle when there is none; without it, fn gets nil.
func (st *store) update(ctx context.Context, identity string, create bool, fn func(*record) error) error {
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	lock := st.userKey(identity)
	if err := st.s.Lock(ctx, lock); err != nil {
		return fmt.Errorf("locking passkeys: %w", err)
	}
	defer func() {
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), storageTimeout)
		defer ucancel()
		_ = st.s.Unlock(uctx, lock)
	}()
	rec, err := st.load(ctx, identity)
	if err != nil {
		return err
	}
	if rec == nil && create {
		handle := make([]byte, userHandleBytes)
		if _, err := rand.Read(handle); err != nil {
			return err
		}
		rec = &record{Identity: identity, Handle: handle}
		if err := st.s.Store(ctx, st.handleKey(handle), []byte(identity)); err != nil {
			return fmt.Errorf("storing a user handle: %w", err)
		}
	}
	if err := fn(rec); err != nil {
		return err
	}
	if rec == nil {
		return nil
	}
	return st.save(ctx, rec)
}

// handle returns the identity's user handle, made and stored on first
// use.
func (st *store) handle(ctx context.Context, identity string) (*record, error) {
	if rec, err := st.load(ctx, identity); err != nil || rec != nil {
		return rec, err
	}
	var out *record
	err := st.update(ctx, identity, true, func(rec *record) error { out = rec; return nil })
	return out, err
}
