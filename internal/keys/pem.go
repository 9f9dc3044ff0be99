package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePrivateKeyPEM reads the first private key block of a PEM file:
// PKCS#8, PKCS#1 (RSA) or SEC 1 (EC).
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found; expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block (e.g. from `caddy jwt genkey --alg ES256`)")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; decrypt it first (e.g. `openssl pkey -in key.pem -out plain.pem`) and protect the file with permissions")
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			return nil, fmt.Errorf("found a %s block, not a private key; use public_key for verification-only keys", block.Type)
		default:
			continue // e.g. "EC PARAMETERS" before the key
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %v", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		if k, ok := signer.(ed25519.PrivateKey); ok {
			return k, nil
		}
		switch signer.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey:
			return signer, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T; use RSA, ECDSA or Ed25519", key)
	}
}

// ParsePublicKeyPEM reads the first public key block of a PEM file: PKIX
// ("PUBLIC KEY"), PKCS#1 ("RSA PUBLIC KEY") or a certificate, whose public
// key is used (the certificate itself is not checked: it is pinned).
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM public key found; expected a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block")
		}
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				key = cert.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("found a %s block; public_key takes the public half only (`openssl pkey -in key.pem -pubout`), or use private_key to sign", block.Type)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %v", block.Type, err)
		}
		switch key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			return key, nil
		}
		return nil, fmt.Errorf("unsupported public key type %T; use RSA, ECDSA or Ed25519", key)
	}
}
