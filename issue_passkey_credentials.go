package jwtextended

// The passkey credentials route of jwt_issue: the session's passkeys
// listed (GET, HEAD), or one removed (DELETE ?id=, with a fresh token).

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// passkeyListed is one passkey as the credentials route lists it.
type passkeyListed struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Created        time.Time  `json:"created"`
	LastUsed       *time.Time `json:"last_used,omitempty"`
	BackupEligible bool       `json:"backup_eligible"`
	BackedUp       bool       `json:"backed_up"`
	Transports     []string   `json:"transports,omitempty"`
	AAGUID         string     `json:"aaguid,omitempty"`
}

var errPasskeyID = newAuthError(http.StatusBadRequest, "bad_request", "Missing \"id\" query parameter")

// servePasskeyCredentials lists the session's passkeys (GET, HEAD) or
// removes one (DELETE ?id=, with a fresh access token).
func (h *Issue) servePasskeyCredentials(w http.ResponseWriter, r *http.Request) error {
	del := r.Method == http.MethodDelete
	tok, e := h.passkeySession(r, del)
	if e != nil {
		return h.refuse(w, r, e)
	}
	if del {
		id := r.URL.Query().Get("id")
		if id == "" {
			return h.refuse(w, r, errPasskeyID)
		}
		if err := h.passkey.svc.Remove(r.Context(), tok.Identity, id); err != nil {
			return h.passkeyFailed(w, r, "remove", err)
		}
		h.logger.Info("passkey removed", zap.String("identity", tok.Identity), zap.String("remote_ip", clientIP(r)), zap.String("credential", id))
		writeJSON(w, http.StatusOK, map[string]string{defaultMessageKey: "Passkey removed"})
		return nil
	}
	creds, err := h.passkey.svc.Credentials(r.Context(), tok.Identity)
	if err != nil {
		return h.passkeyFailed(w, r, "credentials", err)
	}
	list := make([]passkeyListed, 0, len(creds))
	for _, c := range creds {
		l := passkeyListed{ID: c.EncodedID(), Name: c.Name, Created: c.Created, BackupEligible: c.BackupEligible, BackedUp: c.BackedUp, Transports: c.Transports}
		if !c.LastUsed.IsZero() {
			lu := c.LastUsed
			l.LastUsed = &lu
		}
		if id, err := uuid.FromBytes(c.AAGUID); err == nil && id != uuid.Nil {
			l.AAGUID = id.String()
		}
		list = append(list, l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": list})
	return nil
}
