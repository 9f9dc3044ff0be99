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
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
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
