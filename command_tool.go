package jwtextended

// The app of a config file as the caddy jwt subcommands use it, and the
// subcommands that read tokens with it: mint and decode.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/certmagic"
)

// toolApp is the jwt app of a config file as the subcommands use it:
// built by the same function as Caddy's Provision (App.build), without
// background work, metrics, events or the process's shared revocation
// set, and with nothing written to storage: the generated key is loaded,
// never created.
type toolApp struct {
	*App
	storage certmagic.Storage
	// release unloads the storage module.
	release func()
}

// loadToolApp adapts a config file (a Caddyfile, or JSON) and builds its
// jwt app, checked as at load, on the config's storage.
func loadToolApp(configFile, adapter string) (*toolApp, error) {
	if configFile == "" {
		return nil, errors.New("--config is required: the Caddyfile whose jwt app holds the keys")
	}
	cfgJSON, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, err
	}
	var full struct {
		StorageRaw json.RawMessage            `json:"storage,omitempty"`
		AppsRaw    map[string]json.RawMessage `json:"apps,omitempty"`
	}
	if err := json.Unmarshal(cfgJSON, &full); err != nil {
		return nil, fmt.Errorf("reading the adapted config: %v", err)
	}
	a := new(App)
	if appJSON := full.AppsRaw["jwt"]; appJSON != nil {
		if err := caddy.StrictUnmarshalJSON(appJSON, a); err != nil {
			return nil, fmt.Errorf("reading the jwt app: %v", err)
		}
	}
	t := &toolApp{App: a}
	if t.storage, t.release, err = toolStorage(full.StorageRaw); err != nil {
		return nil, err
	}
	err = a.build(buildEnv{ctx: context.Background(), storage: t.storage})
	if err == nil {
		err = a.Validate()
	}
	if err != nil {
		_ = a.Cleanup()
		t.release()
		return nil, err
	}
	return t, nil
}

// toolStorage opens the storage of a config (Caddy's default when none is
// configured) by loading its storage module, as Caddy does.
func toolStorage(raw json.RawMessage) (certmagic.Storage, func(), error) {
	if len(raw) == 0 {
		return caddy.DefaultStorage, func() {}, nil
	}
	var fields map[string]json.RawMessage
	var name string
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, nil, fmt.Errorf("reading the storage config: %v", err)
	}
	if err := json.Unmarshal(fields["module"], &name); err != nil || name == "" {
		return nil, nil, errors.New("the storage config names no module")
	}
	delete(fields, "module")
	rest, _ := json.Marshal(fields)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	mod, err := ctx.LoadModuleByID("caddy.storage."+name, rest)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("loading storage %s: %v", name, err)
	}
	conv, ok := mod.(caddy.StorageConverter)
	if !ok {
		cancel()
		return nil, nil, fmt.Errorf("storage module %s is not a storage", name)
	}
	st, err := conv.CertMagicStorage()
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("opening storage %s: %v", name, err)
	}
	return st, cancel, nil
}

type mintOptions struct {
	config, adapter string
	sub, typ        string
	fresh           bool
	ttl             time.Duration
	claims          []string
}

// mint prints a token in flask-jwt-extended's layout, signed with the
// config's signing key by the same Minter as jwt_issue's, so a token from
// the command line has exactly the layout of one from a login. --claim
// values are JSON where they parse as JSON, strings otherwise.
func mint(w io.Writer, o mintOptions) error {
	if o.typ != token.TypeAccess && o.typ != token.TypeRefresh {
		return fmt.Errorf("--type must be access or refresh, not %q", o.typ)
	}
	if o.sub == "" {
		return errors.New("--sub is required: the identity the token names")
	}
	if o.fresh && o.typ == token.TypeRefresh {
		return errors.New("--fresh applies to access tokens only")
	}
	claims := map[string]any{}
	for _, kv := range o.claims {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return fmt.Errorf("--claim %q must be written <name>=<value>", kv)
		}
		var v any
		if json.Unmarshal([]byte(value), &v) != nil {
			v = value // not JSON: a string
		}
		claims[name] = v
	}
	t, err := loadToolApp(o.config, o.adapter)
	if err != nil {
		return err
	}
	defer t.close()
	m, err := t.minter.Mint(token.Request{Type: o.typ, Identity: o.sub, Fresh: o.fresh, Claims: claims, TTL: o.ttl})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, m.Raw)
	return err
}

// Exit statuses of caddy jwt decode.
const (
	decodeValid   = 0
	decodeRefused = 1
	decodeRevoked = 2
)

// decode verifies a token with the config's keys and prints header and
// claims, and whether the token is revoked in the config's storage
// (read-only), as jwt_auth would decide: by its jti, its family or its
// identity. A refused token is printed too, marked unverified, with the
// reason. It returns the exit status: decodeValid, decodeRefused (also
// when revocation could not be checked) or decodeRevoked.
func decode(w io.Writer, configFile, adapter, raw string) (int, error) {
	t, err := loadToolApp(configFile, adapter)
	if err != nil {
		return decodeRefused, err
	}
	defer t.close()
	raw = strings.TrimSpace(raw)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(t.JWKSURLs) > 0 {
		if err := t.ring.Refresh(ctx); err != nil {
			fmt.Fprintf(w, "remote JWK Sets: %v\n", err)
		}
	}
	tok, refusal := t.newAuthenticator(nil, nil).verify(raw)
	status := "verified"
	if refusal != nil {
		status = "REFUSED (unverified content below): " + refusal.msg + " [" + refusal.code + "]"
	}
	fmt.Fprintf(w, "token %s\n", status)
	revoked, checkErr := t.revocationStatus(ctx, w, tok)
	printSegments(w, raw)
	switch {
	case refusal != nil:
		return decodeRefused, fmt.Errorf("token refused: %s", refusal.msg)
	case revoked:
		return decodeRevoked, errors.New("token revoked")
	case checkErr != nil:
		return decodeRefused, fmt.Errorf("revocation could not be checked: %v", checkErr)
	}
	return decodeValid, nil
}

// close releases what loadToolApp took.
func (t *toolApp) close() {
	_ = t.Cleanup()
	t.release()
}

// revocationStatus prints whether a verified token is revoked in
// storage, or why that was not checked, and returns whether it is.
func (t *toolApp) revocationStatus(ctx context.Context, w io.Writer, tok *token.Verified) (bool, error) {
	if tok == nil {
		fmt.Fprintln(w, "revocation: not checked (the token is refused)")
		return false, nil
	}
	found, err := revocation.LookupIn(ctx, t.storage, t.now(), tok.Identity, tok.JTI, tok.Family)
	if err != nil {
		fmt.Fprintf(w, "revocation: not checked (reading storage: %v)\n", err)
		return false, err
	}
	issued, hasIssued := tok.IssuedAt()
	switch {
	case found.ID:
		fmt.Fprintln(w, "revocation: REVOKED (in storage)")
		return true, nil
	case found.IdentityRevoked && (!hasIssued || issued <= found.IdentityBefore):
		fmt.Fprintf(w, "revocation: REVOKED (every token of %q issued at or before %d, in storage)\n", tok.Identity, found.IdentityBefore)
		return true, nil
	}
	fmt.Fprintln(w, "revocation: not revoked (checked in storage)")
	return false, nil
}

// printSegments prints the header and claims of a compact JWS as indented
// JSON, whatever their verification.
func printSegments(w io.Writer, raw string) {
	parts := strings.Split(raw, ".")
	for i, name := range []string{"header", "claims"} {
		if i >= len(parts) || len(raw) > jws.MaxTokenSize {
			break
		}
		seg, err := jws.Encoding.DecodeString(parts[i])
		var pretty bytes.Buffer
		if err != nil || json.Indent(&pretty, seg, "", "  ") != nil {
			fmt.Fprintf(w, "%s: (not base64url JSON)\n", name)
			continue
		}
		fmt.Fprintf(w, "%s:\n%s\n", name, pretty.String())
	}
}
