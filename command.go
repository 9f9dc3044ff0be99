package jwtextended

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "jwt",
		Usage: "genkey|mint|decode [flags]",
		Short: "Generates keys, mints and decodes tokens of the jwt app",
		Long: `
Tools for the jwt app of caddy-jwt-extended.

  caddy jwt genkey [--alg ES256] [--out key.pem]
      A strong HMAC secret (HS256/384/512) or a PEM key pair for the chosen
      algorithm (RS*/PS*: RSA 3072, ES256/384/512, EdDSA).

  caddy jwt mint --config Caddyfile [--sub alice] [--type access|refresh]
                 [--fresh] [--ttl 15m] [--claim role=admin ...]
      A token signed with the Caddyfile's keys, in flask-jwt-extended's
      layout, for tests and operations.

  caddy jwt decode --config Caddyfile <token>
      Verifies a token with the Caddyfile's keys and prints its header and
      claims, or says why it is refused, and whether it is revoked in the
      config's storage.

  caddy jwt revoke --identity alice | --token <jwt> [--address localhost:2019]
      Revokes every token of an identity issued until now, or one token,
      through the running Caddy's admin API (POST /jwt/revoke).

mint and decode only read: a config without keys uses the key Caddy
generated in its storage, and they refuse to run before Caddy has.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(jwtGenkeyCommand(), jwtMintCommand(), jwtDecodeCommand(), jwtRevokeCommand())
		},
	})
}

func jwtGenkeyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "genkey [--alg <alg>] [--out <file>]",
		Short: "Generates a strong secret or a PEM key pair",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, _ := cmd.Flags().GetString("alg")
			out, _ := cmd.Flags().GetString("out")
			return genkey(cmd.OutOrStdout(), alg, out)
		},
	}
	c.Flags().String("alg", "ES256", "algorithm the key is for: "+jws.Supported())
	c.Flags().String("out", "", "write the private key to this file (mode 0600) and the public key to <file>.pub; default: print both")
	return c
}

func jwtMintCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "mint --config <Caddyfile> [--sub <identity>] [--type access|refresh] [--fresh] [--ttl <duration>] [--claim <name>=<value>...]",
		Short: "Mints a token with the keys of a Caddyfile",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var o mintOptions
			o.config, _ = f.GetString("config")
			o.adapter, _ = f.GetString("adapter")
			o.sub, _ = f.GetString("sub")
			o.typ, _ = f.GetString("type")
			o.fresh, _ = f.GetBool("fresh")
			ttl, _ := f.GetString("ttl")
			if ttl != "" {
				d, err := caddy.ParseDuration(ttl)
				if err != nil {
					return fmt.Errorf("--ttl: %v", err)
				}
				o.ttl = d
			}
			o.claims, _ = f.GetStringArray("claim")
			return mint(cmd.OutOrStdout(), o)
		},
	}
	c.Flags().StringP("config", "c", "", "Caddyfile (or JSON config) whose jwt app holds the keys")
	c.Flags().StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile)")
	c.Flags().String("sub", "", "identity of the token (the identity claim)")
	c.Flags().String("type", token.TypeAccess, "access or refresh")
	c.Flags().Bool("fresh", false, "mint a fresh access token")
	c.Flags().String("ttl", "", "lifetime (default: the app's access_ttl or refresh_ttl)")
	c.Flags().StringArray("claim", nil, "extra claim <name>=<value>; a JSON value (number, true, [..]) is kept as JSON; repeatable")
	return c
}

func jwtDecodeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "decode --config <Caddyfile> <token>",
		Short: "Verifies a token with the keys of a Caddyfile and prints it",
		Long: `Verifies a token with the keys of a Caddyfile, prints its header and
claims, and says whether it is revoked in the config's storage (by its
jti, its refresh-token family or its identity). Exit status: 0 for a valid
token that is not revoked, 1 for a refused one (or when revocation could
not be checked), 2 for a revoked one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return decode(cmd.OutOrStdout(), fl.String("config"), fl.String("adapter"), args[0])
			})(cmd, args)
		},
	}
	c.Flags().StringP("config", "c", "", "Caddyfile (or JSON config) whose jwt app holds the keys")
	c.Flags().StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile)")
	return c
}

func jwtRevokeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke --identity <identity> | --token <jwt> [--address <admin>] [--config <Caddyfile>]",
		Short: "Revokes an identity's tokens, or one token, through the admin API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var o revokeOptions
			o.identity, _ = f.GetString("identity")
			o.token, _ = f.GetString("token")
			o.address, _ = f.GetString("address")
			o.config, _ = f.GetString("config")
			o.adapter, _ = f.GetString("adapter")
			return revoke(cmd.OutOrStdout(), o)
		},
	}
	c.Flags().String("identity", "", "revoke every token of this identity issued until now")
	c.Flags().String("token", "", "revoke this token (its jti, until its exp)")
	c.Flags().String("address", "", "the admin API's address (default: the config's, else localhost:2019)")
	c.Flags().StringP("config", "c", "", "config whose admin address to use")
	c.Flags().StringP("adapter", "a", "", "config adapter")
	return c
}

type revokeOptions struct {
	identity, token          string
	address, config, adapter string
}

// revoke asks the running Caddy's admin API to revoke, as `caddy reload`
// talks to it, and prints its answer.
func revoke(w io.Writer, o revokeOptions) error {
	var req revokeRequest
	switch {
	case (o.identity == "") == (o.token == ""):
		return errors.New("give exactly one of --identity or --token")
	case o.identity != "":
		req.Identity = o.identity
	default:
		req.Token = strings.TrimSpace(o.token)
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(o.address, nil, o.config, o.adapter)
	if err != nil {
		return fmt.Errorf("finding the admin API's address: %v", err)
	}
	body, _ := json.Marshal(req)
	resp, err := caddycmd.AdminAPIRequest(addr, http.MethodPost, "/jwt/revoke", http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, err = fmt.Fprintf(w, "%s\n", bytes.TrimSpace(answer))
	return err
}

// genkey writes a secret or a key pair for alg.
func genkey(w io.Writer, alg, out string) error {
	if alg == "EDDSA" || strings.EqualFold(alg, "eddsa") {
		alg = "EdDSA"
	} else {
		alg = strings.ToUpper(alg)
	}
	if _, ok := jws.Method(alg); !ok {
		return fmt.Errorf("--alg %q is not supported; use one of %s", alg, jws.Supported())
	}
	if n, ok := jws.MinHMACKeyBytes(alg); ok {
		// n random bytes (the hash size) as base64url: more than n
		// characters, so the secret passes the app's length check.
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		secret := jws.Encoding.EncodeToString(b)
		if out != "" {
			return os.WriteFile(out, []byte(secret+"\n"), 0o600)
		}
		_, err := fmt.Fprintln(w, secret)
		return err
	}
	var priv crypto.Signer
	var err error
	switch alg[:2] {
	case "RS", "PS":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case "ES":
		priv, err = ecdsa.GenerateKey(map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg], rand.Reader)
	default:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return err
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	if out != "" {
		if err := os.WriteFile(out, privPEM, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(out+".pub", pubPEM, 0o644); err != nil {
			return err
		}
		kid, _ := keys.Thumbprint(priv.Public())
		_, err := fmt.Fprintf(w, "wrote %s (private, %s) and %s.pub; default kid %s\n", out, alg, out, kid)
		return err
	}
	_, err = w.Write(append(privPEM, pubPEM...))
	return err
}

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
