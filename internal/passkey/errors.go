package passkey

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
)

var errNotExist = fs.ErrNotExist

// Error is a failure of a ceremony or of the store. Status is the HTTP
// status to answer with, Msg a short phrase safe to show the client, and
// Cause what to log: never a private key, a challenge or a whole
// credential.
//
// The statuses:
//
//   - 400: the request itself is unusable: no ceremony id, a body that is
//     not a WebAuthn credential, a ceremony that is unknown, expired,
//     already finished or of another kind, a host that cannot be a
//     relying party, an invalid passkey name, no passkey to step up with;
//   - 401: an assertion (login, reauth) that fails any check: origin, RP
//     ID, challenge, signature, user presence or verification, an unknown
//     or removed credential, another identity's credential, a sign count
//     that went backwards;
//   - 404: a credential to remove that this identity does not have;
//   - 409: registering a credential that is already registered;
//   - 422: an attestation (register) that fails any check;
//   - 500: this side failed: storage, the random source.
type Error struct {
	Status int
	Msg    string
	Cause  error
	// Identity is the identity a refused assertion concerned, when it is
	// known (for the throttle); "" otherwise.
	Identity string
}

// The phrases of Error.Msg.
const (
	MsgCeremony     = "Passkey ceremony unknown, expired or already finished"
	MsgBadRequest   = "Invalid passkey request"
	MsgRejected     = "Passkey not accepted"
	MsgRegistration = "Passkey could not be registered"
	MsgRegistered   = "Passkey already registered"
	MsgNone         = "No passkey registered"
	MsgNotFound     = "Passkey not found"
	MsgName         = "Passkey name must be 1 to 64 printable characters"
	MsgInternal     = "Passkey request could not be completed"
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

func internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Msg: MsgInternal, Cause: err}
}

// ErrSignCount is the cause of a refused assertion whose signature
// counter did not go up: a sign of a cloned authenticator. FinishLogin
// and FinishReauth return it wrapped in a 401 Error.
var ErrSignCount = errors.New("the signature counter did not increase: the authenticator may be cloned")

// SignCountError tells which identity and credential a refused counter
// belongs to, and the counts, for the log and the event.
type SignCountError struct {
	Identity     string
	CredentialID string
	Stored, Got  uint32
}

func (e *SignCountError) Error() string {
	return fmt.Sprintf("%v (stored %d, got %d)", ErrSignCount, e.Stored, e.Got)
}

// Is makes errors.Is(err, ErrSignCount) true.
func (e *SignCountError) Is(target error) bool { return target == ErrSignCount }
