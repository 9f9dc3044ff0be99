package jwtextended

// The module's boundary. In every server that uses jwt_auth or jwt_issue,
// the first of the module's handlers that a request meets (jwt_auth,
// jwt_issue or jwt_strip) removes every X-Jwt-* request header the client
// sent, whatever the path; later ones leave the headers the module itself
// set. The jwt app refuses to start a server in which a request can reach
// a handler that passes it on (reverse_proxy, templates, a handler this
// module does not know) before meeting one of them (boundary_check.go). Here
// too: CORS preflights are recognised, and the client's address is read
// the way Caddy reads it.

import (
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Strip{})
}

// Strip is the `jwt_strip` handler: it removes the X-Jwt-* request headers
// a client sent (see guard) and passes the request on. The Caddyfile puts
// one, without matcher, beside every jwt_auth or jwt_issue that has a
// matcher; write it yourself (`jwt_strip`, first in Caddy's directive
// order) in a site whose jwt_auth and jwt_issue are all inside handle or
// route blocks.
type Strip struct{}

// CaddyModule returns the Caddy module information.
func (Strip) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_strip",
		New: func() caddy.Module { return new(Strip) },
	}
}

func (Strip) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	guard(r)
	return next.ServeHTTP(w, r)
}

// guarded marks, in the request's Caddy variables, a request whose
// client-sent X-Jwt-* headers are gone. Only this pointer is the mark: a
// `vars` directive cannot set it.
var guarded = new(struct{ byte })

// guardedVar is the Caddy variable that holds the mark.
const guardedVar = "jwt_extended.guarded"

// guard removes the client's X-Jwt-* request headers, trailers and
// Connection names, once per request: jwt_issue and jwt_strip keep the
// headers an earlier jwt_auth set. It allocates nothing when there is
// nothing to strip.
func guard(r *http.Request) {
	if caddyhttp.GetVar(r.Context(), guardedVar) == guarded {
		return
	}
	strip(r)
}

// strip removes every X-Jwt-* request header, trailer and Connection
// name, whoever set it (jwt_auth: a later one replaces what an earlier
// one set), and marks the request guarded.
func strip(r *http.Request) {
	stripJWTHeaders(r.Header)
	if r.Trailer != nil {
		stripJWTTrailers(r)
	}
	caddyhttp.SetVar(r.Context(), guardedVar, guarded)
}

// stripJWTHeaders deletes every header whose name, case-insensitively and
// with `_` (and `.`) read as `-`, starts with X-Jwt-, and removes such names from
// Connection (which would make a proxy drop the headers this module sets).
// It allocates nothing when there is nothing to strip.
func stripJWTHeaders(h http.Header) {
	for name := range h {
		if hasJWTPrefix(name) {
			delete(h, name)
		}
	}
	conn, ok := h["Connection"]
	if !ok || !connectionNamesJWT(conn) {
		return
	}
	var kept []string
	for _, line := range conn {
		for _, tok := range strings.Split(line, ",") {
			tok = strings.TrimSpace(tok)
			if tok != "" && !hasJWTPrefix(tok) {
				kept = append(kept, tok)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// connectionNamesJWT reports whether a Connection header lists an X-Jwt-*
// name, without allocating (most requests carry "keep-alive" or
// "Keep-Alive").
func connectionNamesJWT(lines []string) bool {
	for _, line := range lines {
		for line != "" {
			var tok string
			tok, line, _ = strings.Cut(line, ",")
			if hasJWTPrefix(strings.TrimSpace(tok)) {
				return true
			}
		}
	}
	return false
}

// stripJWTTrailers keeps X-Jwt-* names out of the request's trailers too:
// Caddy's reverse_proxy forwards request trailers, and some upstreams merge
// trailers into headers. net/http fills the trailer values in only when the
// body reaches EOF, so they are stripped now and again at EOF.
func stripJWTTrailers(r *http.Request) {
	stripJWTHeaders(r.Trailer)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &jwtTrailerStripper{ReadCloser: r.Body, trailer: r.Trailer}
	}
}

// jwtTrailerStripper strips X-Jwt-* trailers when the body hits EOF.
type jwtTrailerStripper struct {
	io.ReadCloser
	trailer http.Header
}

func (b *jwtTrailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		stripJWTHeaders(b.trailer)
	}
	return n, err
}

func hasJWTPrefix(name string) bool {
	const p = "x-jwt-"
	if len(name) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' || c == '.' {
			// CGI and PHP backends fold '_' and '.' onto '-'
			c = '-'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// isPreflight reports whether r is a CORS preflight as browsers send
// them: OPTIONS with Origin and Access-Control-Request-Method, no body
// and no credentials (Authorization or Cookie). Anything else that
// claims to be one is an ordinary request: jwt_auth verifies it, and
// jwt_issue answers 405 on its routes.
func isPreflight(r *http.Request) bool {
	h := r.Header
	return r.Method == http.MethodOptions &&
		len(h["Origin"]) > 0 && h.Get("Access-Control-Request-Method") != "" &&
		r.ContentLength == 0 && len(r.TransferEncoding) == 0 &&
		len(h["Authorization"]) == 0 && len(h["Cookie"]) == 0
}

// clientIP is Caddy's client IP (which honours trusted_proxies), or the
// connection's address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Interface guards
var _ caddyhttp.MiddlewareHandler = (*Strip)(nil)
