package testkit

// A software WebAuthn authenticator and client, written from the WebAuthn
// Level 3 specification (sections 6.1 authenticator data, 6.5 attestation
// with format "none", 5.8.1 client data) and RFC 9053 (the COSE EC2 key),
// independent of the module's code and of go-webauthn: it turns the
// options a relying party sends into what PublicKeyCredential.toJSON()
// gives a page, for tests that register and assert passkeys without a
// browser, and lets them break each part on purpose.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// The flags of authenticator data (WebAuthn section 6.1).
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	FlagAT = 0x40 // attested credential data included
)

// Authenticator is a software passkey authenticator (ES256, attestation
// none, resident keys). Safe for concurrent use.
type Authenticator struct {
	// AAGUID names the authenticator's model.
	AAGUID [16]byte
	// Verifies: the authenticator verifies the user (sets UV) whenever
	// the relying party does not discourage it.
	Verifies bool
	// BackupEligible and BackedUp set BE and BS.
	BackupEligible, BackedUp bool

	mu    sync.Mutex
	creds []*SoftCredential
}

// SoftCredential is a credential the Authenticator holds.
type SoftCredential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	// SignCount is the counter of the last assertion (0 after creation);
	// each assertion increments it first.
	SignCount uint32
}

// EncodedID is the credential id in base64url without padding.
func (c *SoftCredential) EncodedID() string { return b64(c.ID) }

// NewAuthenticator returns an authenticator that verifies users.
func NewAuthenticator() *Authenticator {
	a := &Authenticator{Verifies: true}
	copy(a.AAGUID[:], "caddy-jwt-tests!")
	return a
}

// Client is what the browser contributes to a ceremony, and the ways a
// test breaks it.
type Client struct {
	// Origin is the page's origin, put in client data.
	Origin string
	// RPID, when set, is hashed into the authenticator data in place of
	// the RP ID of the options (a wrong RP ID).
	RPID string
	// NoUV makes the authenticator skip user verification whatever it
	// was asked.
	NoUV bool
	// Credential, for an assertion, is the credential to sign with, in
	// place of the one the options and the authenticator would choose.
	Credential *SoftCredential
	// Challenge, when set, replaces the options' challenge in client
	// data (base64url).
	Challenge string
	// ID, for a registration, is the new credential's id in place of a
	// random one (to register an id that is registered already).
	ID []byte
}

// options is what this client reads of the begin answer's publicKey.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
		PubKeyCredParams []struct {
			Alg int `json:"alg"`
		} `json:"pubKeyCredParams"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		AuthenticatorSelection struct {
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		UserVerification string `json:"userVerification"`
	} `json:"publicKey"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// clientData is the client data JSON of section 5.8.1.
func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, origin, false})
	return b
}

// authData is the authenticator data of section 6.1; attested is the
// attested credential data, or nil.
func authData(rpID string, flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte{}, h[:]...)
	if attested != nil {
		flags |= FlagAT
	}
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

// coseKey is the credential public key as a COSE_Key (RFC 9053 section
// 7.1.1): kty EC2, alg ES256, crv P-256, x, y.
func coseKey(pub *ecdsa.PublicKey) []byte {
	raw, _ := pub.ECDH()
	pt := raw.Bytes() // 0x04 || x || y
	b, _ := cbor.CoreDetEncOptions().EncMode()
	enc, _ := b.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pt[1:33], -3: pt[33:65]})
	return enc
}

func (a *Authenticator) flags(uvWanted string, c Client) byte {
	f := byte(FlagUP)
	if a.Verifies && !c.NoUV && uvWanted != "discouraged" {
		f |= FlagUV
	}
	if a.BackupEligible {
		f |= FlagBE
	}
	if a.BackedUp {
		f |= FlagBS
	}
	return f
}

// Create runs navigator.credentials.create() on the begin answer (JSON
// with publicKey, as PublicKeyCredential.parseCreationOptionsFromJSON
// takes it) and returns PublicKeyCredential.toJSON() of the new
// credential, and the credential.
func (a *Authenticator) Create(begin []byte, c Client) (map[string]any, *SoftCredential, error) {
	var o options
	if err := json.Unmarshal(begin, &o); err != nil {
		return nil, nil, err
	}
	pk := o.PublicKey
	es256 := false
	for _, p := range pk.PubKeyCredParams {
		es256 = es256 || p.Alg == -7
	}
	if !es256 {
		return nil, nil, errors.New("testkit: the options do not offer ES256")
	}
	handle, err := base64.RawURLEncoding.DecodeString(pk.User.ID)
	if err != nil || len(handle) == 0 || len(handle) > 64 {
		return nil, nil, fmt.Errorf("testkit: user.id is not a base64url handle of 1 to 64 bytes: %q", pk.User.ID)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range pk.ExcludeCredentials {
		for _, have := range a.creds {
			if ex.ID == have.EncodedID() && have.RPID == pk.RP.ID {
				return nil, nil, errors.New("testkit: InvalidStateError: a credential of the exclude list is here")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	if len(c.ID) > 0 {
		id = append([]byte(nil), c.ID...)
	}
	cred := &SoftCredential{ID: id, RPID: pk.RP.ID, UserHandle: handle, Key: key}
	// a credential for the same RP and user replaces the old one (a
	// resident key store keeps one per user)
	kept := a.creds[:0]
	for _, have := range a.creds {
		if have.RPID != cred.RPID || string(have.UserHandle) != string(handle) {
			kept = append(kept, have)
		}
	}
	a.creds = append(kept, cred)

	attested := append([]byte{}, a.AAGUID[:]...)
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(id)))
	attested = append(attested, id...)
	attested = append(attested, coseKey(&key.PublicKey)...)
	rpID := pk.RP.ID
	if c.RPID != "" {
		rpID = c.RPID
	}
	ad := authData(rpID, a.flags(pk.AuthenticatorSelection.UserVerification, c), 0, attested)
	em, _ := cbor.CoreDetEncOptions().EncMode()
	attObj, err := em.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, nil, err
	}
	challenge := pk.Challenge
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return map[string]any{
		"id": b64(id), "rawId": b64(id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":     b64(clientData("webauthn.create", challenge, c.Origin)),
			"attestationObject":  b64(attObj),
			"authenticatorData":  b64(ad),
			"transports":         []string{"internal"},
			"publicKeyAlgorithm": -7,
			"publicKey":          b64(spki),
		},
	}, cred, nil
}

// Get runs navigator.credentials.get() on the begin answer (as
// parseRequestOptionsFromJSON takes it) and returns
// PublicKeyCredential.toJSON() of the assertion. With allowCredentials it
// signs with the first of its credentials listed; without, with the
// newest of its discoverable credentials for the RP.
func (a *Authenticator) Get(begin []byte, c Client) (map[string]any, error) {
	var o options
	if err := json.Unmarshal(begin, &o); err != nil {
		return nil, err
	}
	pk := o.PublicKey
	a.mu.Lock()
	defer a.mu.Unlock()
	cred := c.Credential
	if cred == nil {
		cred = a.choose(pk.RPID, pk.AllowCredentials)
	}
	if cred == nil {
		return nil, errors.New("testkit: NotAllowedError: no credential for this RP here")
	}
	cred.SignCount++
	rpID := pk.RPID
	if c.RPID != "" {
		rpID = c.RPID
	}
	ad := authData(rpID, a.flags(pk.UserVerification, c), cred.SignCount, nil)
	challenge := pk.Challenge
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	cd := clientData("webauthn.get", challenge, c.Origin)
	// the signature is over authenticatorData || SHA-256(clientDataJSON)
	// (section 6.3.3), with ES256: ECDSA P-256 over its SHA-256, DER
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"id": b64(cred.ID), "rawId": b64(cred.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(cd),
			"authenticatorData": b64(ad),
			"signature":         b64(sig),
			"userHandle":        b64(cred.UserHandle),
		},
	}, nil
}

func (a *Authenticator) choose(rpID string, allow []struct {
	ID string `json:"id"`
}) *SoftCredential {
	for i := len(a.creds) - 1; i >= 0; i-- {
		have := a.creds[i]
		if have.RPID != rpID {
			continue
		}
		if len(allow) == 0 {
			return have
		}
		for _, al := range allow {
			if al.ID == have.EncodedID() {
				return have
			}
		}
	}
	return nil
}

// Credentials are the credentials the authenticator holds, oldest first.
func (a *Authenticator) Credentials() []*SoftCredential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*SoftCredential(nil), a.creds...)
}

// SetSignCount sets a credential's counter (a cloned authenticator).
func (a *Authenticator) SetSignCount(c *SoftCredential, n uint32) {
	a.mu.Lock()
	c.SignCount = n
	a.mu.Unlock()
}

// FinishBody is the body of a finish call: the toJSON() object cred with
// the begin answer's ceremony id, and any extra fields.
func FinishBody(begin []byte, cred map[string]any, extra map[string]any) []byte {
	var b struct {
		Ceremony string `json:"ceremony"`
	}
	_ = json.Unmarshal(begin, &b)
	body := make(map[string]any, len(cred)+1+len(extra))
	for k, v := range cred {
		body[k] = v
	}
	body["ceremony"] = b.Ceremony
	for k, v := range extra {
		body[k] = v
	}
	out, _ := json.Marshal(body)
	return out
}
