package oidcflow

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

const (
	// KeySize is the size of a Sealer's key: AES-256.
	KeySize = 32
	// MaxSealed bounds a sealed transaction (the cookie value): longer
	// values are refused unopened, and Begin never makes one.
	MaxSealed = 4096
	gcmNonce  = 12
	gcmTag    = 16
)

var b64 = base64.RawURLEncoding.Strict()

// Sealer encrypts and authenticates transactions with AES-256-GCM. It is
// safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer with a 32-byte key (see LoadOrCreateKey).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealing key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key) // copies the key
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithNonceSize(block, gcmNonce)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// seal encrypts plain bound to aad, as base64url(nonce || ciphertext).
func (s *Sealer) seal(aad, plain []byte) (string, error) {
	out := make([]byte, gcmNonce, gcmNonce+len(plain)+gcmTag)
	if _, err := rand.Read(out); err != nil {
		return "", err
	}
	out = s.aead.Seal(out, out[:gcmNonce], plain, aad)
	return b64.EncodeToString(out), nil
}

var errUnsealed = errors.New("the transaction does not open")

// open reverses seal. Values over MaxSealed, not canonical base64url,
// too short, or not sealed by this key with this aad fail.
func (s *Sealer) open(aad []byte, value string) ([]byte, error) {
	if len(value) > MaxSealed {
		return nil, errors.New("the transaction is too large")
	}
	raw, err := b64.DecodeString(value)
	if err != nil || len(raw) < gcmNonce+gcmTag {
		return nil, errUnsealed
	}
	plain, err := s.aead.Open(nil, raw[:gcmNonce], raw[gcmNonce:], aad)
	if err != nil {
		return nil, errUnsealed
	}
	return plain, nil
}

// txVersion is the format of a sealed transaction.
const txVersion = 1

// Transaction kinds.
const (
	kindLogin  = "login"
	kindReauth = "reauth"
)

// transaction is what Begin seals into the cookie and Finish opens.
type transaction struct {
	V        int    `json:"v"`
	Kind     string `json:"k"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"p"`
	Redirect string `json:"u"`
	ReturnTo string `json:"r"`
	Began    int64  `json:"b"` // unix seconds, rounded down
	Expires  int64  `json:"e"` // unix seconds
	Identity string `json:"i,omitempty"`
	Family   string `json:"f,omitempty"`
}

// aad is the additional data of the flow's transactions: the cookie
// name and the flow name, so a value moved to another cookie or to
// another oidc block does not open.
func txAAD(cookie, name string) []byte {
	return []byte("caddy-jwt-extended oidc transaction v1\x00" + cookie + "\x00" + name)
}

func (s *Sealer) sealTx(aad []byte, tx *transaction) (string, error) {
	plain, err := json.Marshal(tx)
	if err != nil {
		return "", err
	}
	return s.seal(aad, plain)
}

func (s *Sealer) openTx(aad []byte, value string) (*transaction, error) {
	plain, err := s.open(aad, value)
	if err != nil {
		return nil, err
	}
	var tx transaction
	if err := json.Unmarshal(plain, &tx); err != nil {
		return nil, errUnsealed
	}
	if tx.V != txVersion || tx.Kind != kindLogin && tx.Kind != kindReauth || tx.State == "" || tx.Nonce == "" || tx.Verifier == "" {
		return nil, errors.New("the transaction is of an unknown format")
	}
	return &tx, nil
}
