package jwtextended

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI is the `admin.api.jwt` module: revocation through Caddy's admin
// endpoint, behind its own access controls (listen address, origins,
// remote admin with client certificates).
//
//	POST /jwt/revoke  {"jti": "...", "exp": <unix>} | {"token": "<jwt>"} | {"identity": "alice"}
//	GET  /jwt/revoked?identity=alice
type adminAPI struct {
	ctx    caddy.Context
	logger *zap.Logger
}

// maxAdminBody bounds the admin API's request bodies.
const maxAdminBody = 64 << 10

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.jwt",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision keeps the config's context: the admin endpoint is set up
// before the apps, so the jwt app is looked up per request.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger(a)
	return nil
}

// Routes returns the admin API's routes.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/jwt/revoke", Handler: caddy.AdminHandlerFunc(a.handleRevoke)},
		{Pattern: "/jwt/revoked", Handler: caddy.AdminHandlerFunc(a.handleRevoked)},
	}
}

// app is the loaded config's jwt app.
func (a *adminAPI) app() (*App, error) {
	v, err := a.ctx.AppIfConfigured("jwt")
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("the loaded config has no jwt app")}
	}
	return v.(*App), nil
}

// revokeRequest is the body of POST /jwt/revoke: one of jti (with exp),
// token or identity.
type revokeRequest struct {
	JTI      string `json:"jti,omitempty"`
	Exp      int64  `json:"exp,omitempty"`
	Token    string `json:"token,omitempty"`
	Identity string `json:"identity,omitempty"`
}

func adminBadRequest(format string, args ...any) error {
	return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf(format, args...)}
}

// handleRevoke revokes a token by its jti (the token's exp is needed: the
// revocation is kept until then), a whole token (verified, so its jti and
// exp are trusted), or every token of an identity issued before now.
func (a *adminAPI) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("method not allowed; use POST")}
	}
	app, err := a.app()
	if err != nil {
		return err
	}
	req, err := readRevokeRequest(r.Body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), revocationTimeout)
	defer cancel()
	kind := "token"
	revoked := eventData{Identity: req.Identity, JTI: req.JTI}
	switch {
	case req.Identity != "":
		kind = "identity"
		err = app.revoked.revokeIdentity(ctx, req.Identity)
	case req.JTI != "":
		if req.Exp <= 0 {
			return adminBadRequest(`"jti" needs "exp", the token's expiry in unix seconds: the revocation is kept until then`)
		}
		err = app.revoked.revoke(ctx, req.JTI, time.Unix(req.Exp, 0))
	default:
		tok, e := app.verifier.Parse(req.Token, app.ring.Current())
		if e != nil {
			return adminBadRequest("token: %s", e.Msg)
		}
		if tok.JTI == "" {
			return adminBadRequest("token: it has no jti and cannot be revoked; revoke its identity instead")
		}
		var exp time.Time // none: kept for the longest token lifetime
		if tok.Exp > 0 {
			exp = time.Unix(tok.Exp, 0)
		}
		revoked.Identity, revoked.JTI = tok.Identity, tok.JTI
		err = app.revoked.revoke(ctx, tok.JTI, exp)
	}
	if err != nil {
		a.logger.Error("revoking through the admin API failed", zap.String("kind", kind), zap.Error(err))
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the revocation could not be stored; try again")}
	}
	app.metrics.countAdminRevocation(kind)
	revoked.Reason = "admin_api"
	app.events.emit(eventRevoked, revoked)
	a.logger.Info("revoked through the admin API", zap.String("kind", kind))
	return writeAdminJSON(w, http.StatusOK, map[string]any{"msg": "Revoked"})
}

// readRevokeRequest reads and checks the body of POST /jwt/revoke: one
// JSON object (unknown fields refused, nothing after it), with exactly one
// of jti, token or identity, and exp with jti only.
func readRevokeRequest(body io.Reader) (revokeRequest, error) {
	const form = `the body must be one JSON object: {"jti": "...", "exp": <unix>}, {"token": "<jwt>"} or {"identity": "..."}`
	var req revokeRequest
	dec := json.NewDecoder(io.LimitReader(body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return req, adminBadRequest("%s; the body is empty", form)
		}
		return req, adminBadRequest("%s: %v", form, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, adminBadRequest("%s; found more after it", form)
	}
	given := 0
	for _, s := range []string{req.JTI, req.Token, req.Identity} {
		if s != "" {
			given++
		}
	}
	switch {
	case given != 1:
		return req, adminBadRequest(`give exactly one of "jti" (with "exp"), "token" or "identity"`)
	case req.JTI == "" && req.Exp != 0:
		return req, adminBadRequest(`"exp" goes with "jti" only: a token carries its own, and an identity's revocation lasts the longest token lifetime`)
	}
	return req, nil
}

// handleRevoked answers GET /jwt/revoked?identity=alice with the identity's
// revocation record.
func (a *adminAPI) handleRevoked(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("method not allowed; use GET")}
	}
	app, err := a.app()
	if err != nil {
		return err
	}
	identity := r.URL.Query().Get("identity")
	if identity == "" {
		return adminBadRequest("the identity query parameter is required: /jwt/revoked?identity=alice")
	}
	before, ok := app.revoked.identityRevokedBefore(identity)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("identity %q is not revoked", identity)}
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{
		"identity":       identity,
		"revoked_before": before,
		"msg":            "every token of this identity issued at or before revoked_before (unix seconds) is revoked",
	})
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
