package jws

import (
	"encoding/base64"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
)

// MaxTokenSize bounds every token before any decoding: a longer one is
// refused outright.
const MaxTokenSize = 8 << 10

// MaxKIDLength bounds the kid header; real ones are short.
const MaxKIDLength = 256

// Encoding decodes base64url strictly: no padding, no standard-alphabet
// characters, no non-zero trailing bits, so every token has exactly one
// spelling.
var Encoding = base64.RawURLEncoding.Strict()

// tokenAlphabet marks the bytes a compact JWS may hold: base64url and dots.
var tokenAlphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		t[c] = true
	}
	return t
}()

// inTokenAlphabet reports whether raw holds only base64url characters and
// dots. Go's base64 decoders skip CR and LF even in strict mode, so without
// this check a newline inside the signature gave a valid token a second
// spelling (a query value can carry %0A).
func inTokenAlphabet(raw string) bool {
	for i := 0; i < len(raw); i++ {
		if !tokenAlphabet[raw[i]] {
			return false
		}
	}
	return true
}

// Header is the part of the JOSE header this package reads. jku, x5u, x5c
// and jwk are never read: keys come from configuration only.
type Header struct {
	Alg string
	// kid is the kid member as decoded; HasKID tells whether there is one.
	kid    any
	HasKID bool
}

// KID returns the header's kid: a string of at most MaxKIDLength bytes,
// or "" for null (which names no key).
func (h Header) KID() (string, *Error) {
	switch kid := h.kid.(type) {
	case string:
		if len(kid) > MaxKIDLength {
			return "", ErrBadKID
		}
		return kid, nil
	case nil:
		return "", nil
	}
	return "", ErrBadKID
}

// Split cuts a compact JWS into its three segments; each must be present.
func Split(raw string) (header, payload, sig string, err *Error) {
	if len(raw) > MaxTokenSize {
		return "", "", "", ErrTooLarge
	}
	dot1 := strings.IndexByte(raw, '.')
	if dot1 <= 0 {
		return "", "", "", ErrMalformed
	}
	dot2 := strings.IndexByte(raw[dot1+1:], '.')
	if dot2 < 0 {
		return "", "", "", ErrMalformed
	}
	dot2 += dot1 + 1
	header, payload, sig = raw[:dot1], raw[dot1+1:dot2], raw[dot2+1:]
	if payload == "" || sig == "" || strings.IndexByte(sig, '.') >= 0 {
		return "", "", "", ErrMalformed
	}
	if !inTokenAlphabet(raw) {
		return "", "", "", ErrBadEncoding
	}
	return header, payload, sig, nil
}

// ParseHeader decodes and checks a header segment: one JSON object with
// unique names and valid Unicode (encoding/json would turn invalid UTF-8
// into U+FFFD, letting two different headers read alike), alg and kid read
// by their exact, case-sensitive names (RFC 7515 section 4), and no crit:
// no extension is understood, so any crit fails (section 4.1.11). The kid
// is checked by Header.KID, after the signature segment has decoded.
func ParseHeader(segment string) (Header, *Error) {
	var h Header
	data, err := Encoding.DecodeString(segment)
	if err != nil {
		return h, ErrBadEncoding
	}
	m, fault := strictjson.Decode(data)
	if fault != strictjson.OK {
		return h, ErrBadHeader
	}
	switch v := m["alg"].(type) {
	case string:
		h.Alg = v
	case nil: // absent or null: matches no key
	default:
		return h, ErrBadHeader
	}
	if _, ok := m["crit"]; ok {
		return h, ErrCrit
	}
	h.kid, h.HasKID = m["kid"]
	return h, nil
}

// Verify checks a compact JWS against keys: its serialization, header and
// signature. It returns the payload segment as received and its decoded
// bytes, which it does not interpret, and the key whose signature matched.
func Verify(raw string, keys KeySet) (payloadB64 string, payload []byte, key *Key, e *Error) {
	headerB64, payloadB64, sigB64, e := Split(raw)
	if e != nil {
		return "", nil, nil, e
	}
	hdr, e := ParseHeader(headerB64)
	if e != nil {
		return "", nil, nil, e
	}
	sig, err := Encoding.DecodeString(sigB64)
	if err != nil {
		return "", nil, nil, ErrBadEncoding
	}
	var candidates []*Key
	if hdr.HasKID {
		kid, e := hdr.KID()
		if e != nil {
			return "", nil, nil, e
		}
		k := keys.KeyFor(kid)
		if k == nil {
			return "", nil, nil, ErrUnknownKID
		}
		candidates = []*Key{k}
	} else {
		candidates = keys.KeysWithoutKID()
	}
	signingString := raw[:len(headerB64)+1+len(payloadB64)]
	algSeen := false
	for _, k := range candidates {
		if k.Alg != hdr.Alg {
			continue
		}
		algSeen = true
		if k.Method.Verify(signingString, sig, k.Material) == nil {
			key = k
			break
		}
	}
	if !algSeen {
		return "", nil, nil, ErrAlgNotAllowed
	}
	if key == nil {
		return "", nil, nil, ErrSignature
	}
	payload, err = Encoding.DecodeString(payloadB64)
	if err != nil {
		return "", nil, nil, ErrBadEncoding
	}
	return payloadB64, payload, key, nil
}
