package oidcflow

import (
	"fmt"
	"net/http"
)

// Error is a failure of the flow. Status is the HTTP status to answer with,
// Msg a short phrase that is safe to show the client (flask-jwt-extended's
// style), and Cause what to log: it never holds a client secret, an
// authorization code, a PKCE verifier, a state or nonce, or a whole token.
//
// The statuses:
//
//   - 400: Begin was given a return_to or session too large for the
//     transaction cookie.
//   - 401: everything the browser or the provider's answer about this one
//     login can be blamed for: a missing, unreadable, tampered, expired or
//     reused transaction cookie, a state that does not match it, an error
//     the provider sent back (error=access_denied, ...), a code the token
//     endpoint refused as invalid_grant, an ID token that fails any check,
//     user info that contradicts the ID token, an identity that is missing
//     or not verified, and a reauthentication that is too old or names
//     another identity.
//   - 502: the provider cannot be used at all: discovery failed with no
//     last good copy, the token endpoint is unreachable or answered
//     anything but a token or invalid_grant, the token response has no
//     id_token, the provider's keys or user info could not be fetched.
//   - 500: this side failed: the random source, or the Once storage.
type Error struct {
	Status int
	Msg    string
	Cause  error
}

// The phrases of Error.Msg.
const (
	MsgState       = "Missing or invalid login state"
	MsgRefused     = "Login was refused by the provider"
	MsgUnavailable = "Provider unavailable"
	MsgIDToken     = "Invalid ID token"
	MsgUserInfo    = "Invalid user info"
	MsgIdentity    = "Login identity not accepted"
	MsgReauth      = "Reauthentication failed"
	MsgTooLarge    = "Login state too large"
	MsgInternal    = "Login could not be completed"
)

// Error returns the message and the cause.
func (e *Error) Error() string {
	if e.Cause == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Cause.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func newError(status int, msg string, format string, args ...any) *Error {
	return &Error{Status: status, Msg: msg, Cause: fmt.Errorf(format, args...)}
}

func stateError(format string, args ...any) *Error {
	return newError(http.StatusUnauthorized, MsgState, format, args...)
}

func idTokenError(format string, args ...any) *Error {
	return newError(http.StatusUnauthorized, MsgIDToken, format, args...)
}

func unavailable(format string, args ...any) *Error {
	return newError(http.StatusBadGateway, MsgUnavailable, format, args...)
}

// printable returns s cut to at most n bytes, with every byte outside
// printable ASCII replaced by '?': text a provider or a client chose,
// made safe for a log line.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
