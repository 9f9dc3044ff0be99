package jwtextended

import (
	"bytes"
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
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"io"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
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
      claims, or says why it is refused.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(jwtGenkeyCommand(), jwtMintCommand(), jwtDecodeCommand())
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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			config, _ := cmd.Flags().GetString("config")
			adapter, _ := cmd.Flags().GetString("adapter")
			return decode(cmd.OutOrStdout(), config, adapter, args[0])
		},
	}
	c.Flags().StringP("config", "c", "", "Caddyfile (or JSON config) whose jwt app holds the keys")
	c.Flags().StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile)")
	return c
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

// loadAppFromConfig provisions the jwt app of a Caddy config (a Caddyfile
// is adapted first) with the config's storage, without starting anything.
func loadAppFromConfig(configFile, adapter string) (*App, error) {
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
	appJSON := full.AppsRaw["jwt"]
	if appJSON == nil {
		appJSON = json.RawMessage(`{}`) // the zero-config app, key in storage
	}
	return provisionApp(full.StorageRaw, appJSON)
}

// provisionApp provisions the jwt app from its JSON, with Caddy's storage
// from storageRaw (nil: the default), outside a running server: for the
// subcommands, and for tests. Nothing is started and no admin endpoint
// is opened.
func provisionApp(storageRaw, appJSON json.RawMessage) (*App, error) {
	cfg := caddy.Config{
		Admin:      &caddy.AdminConfig{Disabled: true},
		StorageRaw: storageRaw,
		AppsRaw:    caddy.ModuleMap{"jwt": appJSON},
		Logging:    &caddy.Logging{Logs: map[string]*caddy.CustomLog{"default": {BaseLog: caddy.BaseLog{Level: "ERROR"}}}},
	}
	ctx, err := caddy.ProvisionContext(&cfg)
	if err != nil {
		return nil, err
	}
	v, err := ctx.App("jwt")
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

type mintOptions struct {
	config, adapter string
	sub, typ        string
	fresh           bool
	ttl             time.Duration
	claims          []string
}

// mint prints a token in flask-jwt-extended's layout, signed with the
// app's signing key through golang-jwt.
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
	a, err := loadAppFromConfig(o.config, o.adapter)
	if err != nil {
		return err
	}
	tok, err := a.mintCLI(o)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, tok)
	return err
}

// mintCLI mints with App.mint, so a token from the command line has exactly
// the layout of one from jwt_issue. --claim values are JSON where they
// parse as JSON, strings otherwise.
func (a *App) mintCLI(o mintOptions) (string, error) {
	claims := map[string]any{}
	for _, kv := range o.claims {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return "", fmt.Errorf("--claim %q must be written <name>=<value>", kv)
		}
		var v any
		if json.Unmarshal([]byte(value), &v) != nil {
			v = value // not JSON: a string
		}
		claims[name] = v
	}
	m, err := a.mint(token.Request{Type: o.typ, Identity: o.sub, Fresh: o.fresh && o.typ == token.TypeAccess, Claims: claims, TTL: o.ttl})
	if err != nil {
		return "", err
	}
	return m.Raw, nil
}

// decode verifies a token with the app's keys and prints header and
// claims; a refused token is printed too, marked unverified, with the
// reason, and decode returns an error.
func decode(w io.Writer, configFile, adapter, raw string) error {
	a, err := loadAppFromConfig(configFile, adapter)
	if err != nil {
		return err
	}
	return a.decodeCLI(w, strings.TrimSpace(raw))
}

func (a *App) decodeCLI(w io.Writer, raw string) error {
	_, refusal := a.verify(raw)
	status := "verified"
	if refusal != nil {
		status = "REFUSED (unverified content below): " + refusal.msg + " [" + refusal.code + "]"
	}
	fmt.Fprintf(w, "token %s\n", status)
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
	if refusal != nil {
		return fmt.Errorf("token refused: %s", refusal.msg)
	}
	return nil
}
