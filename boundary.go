package jwtextended

// What both handlers do at the module's boundary, before either looks at
// a token: the X-Jwt-* request headers that clients may not send are
// removed, CORS preflights are recognised, and the client's address is
// read the way Caddy reads it.

import (
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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

// isPreflight reports whether r is a CORS preflight: OPTIONS with
// Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
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
