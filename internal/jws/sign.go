package jws

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"
)

// Sign signs claims with s through golang-jwt, adding s's kid to the
// header when it has one.
func Sign(claims jwt.MapClaims, s *Signer) (string, error) {
	t := jwt.NewWithClaims(s.Method, claims)
	if s.KID != "" {
		t.Header["kid"] = s.KID
	}
	raw, err := t.SignedString(s.Key)
	if err != nil {
		return "", errors.New("jwt: signing token: " + err.Error())
	}
	return raw, nil
}
