package jwtextended

// The jwt option's cors block: the module answers CORS preflights on its
// routes itself and adds the CORS response headers to its own answers and
// to the upstream's, so that a site whose single-page app lives on another
// origin needs no hand-written CORS recipe, and no preflight reaches the
// app.

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CORSConfig is the `cors { ... }` block of the jwt app.
type CORSConfig struct {
	// The origins allowed, exactly as browsers send them in Origin
	// (scheme://host[:port], no path). Required; `*` is not accepted.
	Origins []string `json:"origins,omitempty"`
	// Send Access-Control-Allow-Credentials: true, so that browsers send
	// cookies and Authorization on cross-origin requests and let the page
	// read the answers. Default: off.
	Credentials bool `json:"credentials,omitempty"`
	// The request headers a preflight allows (Access-Control-Allow-
	// Headers). Default: Authorization, Content-Type and the csrf block's
	// header names.
	Headers []string `json:"headers,omitempty"`
	// How long a browser may keep a preflight's answer
	// (Access-Control-Max-Age). Default: not sent (browsers keep it 5s).
	MaxAge WeakDuration `json:"max_age,omitempty"`
}

// corsPolicy is the cors block resolved.
type corsPolicy struct {
	origins      map[string]bool
	credentials  bool
	allowHeaders string
	maxAge       string // seconds; "" when unset
}

// policy resolves the block's placeholders and checks it; nil without a
// block.
func (c *CORSConfig) policy(csrf *csrfSettings) (*corsPolicy, error) {
	if c == nil {
		return nil, nil
	}
	if len(c.Origins) == 0 {
		return nil, fmt.Errorf("jwt: cors needs the origins it allows, e.g. `origins https://app.example.com`")
	}
	vals := append(pointers(c.Origins), pointers(c.Headers)...)
	if err := resolveEach("cors", vals...); err != nil {
		return nil, fmt.Errorf("jwt: %v", err)
	}
	p := &corsPolicy{origins: map[string]bool{}, credentials: c.Credentials}
	for _, o := range c.Origins {
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("jwt: cors origins: %v", err)
		}
		p.origins[o] = true
	}
	headers := c.Headers
	if len(headers) == 0 {
		headers = []string{"Authorization", "Content-Type", csrf.header}
		if csrf.refreshHeader != csrf.header {
			headers = append(headers, csrf.refreshHeader)
		}
	}
	for _, h := range headers {
		if !httpToken(h) {
			return nil, fmt.Errorf("jwt: cors headers: %q is not a header name", h)
		}
	}
	p.allowHeaders = strings.Join(headers, ", ")
	maxAge, err := c.MaxAge.resolve("jwt: cors", "max_age")
	if err != nil {
		return nil, err
	}
	if maxAge < 0 {
		return nil, fmt.Errorf("jwt: cors max_age must not be negative")
	}
	if maxAge > 0 {
		p.maxAge = strconv.FormatInt(int64(maxAge/time.Second), 10)
	}
	return p, nil
}

// checkOrigin accepts an origin as browsers serialize it:
// scheme://host[:port], lower-case scheme, no path, query or user.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if o == "*" || o == "null" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" || o != u.Scheme+"://"+u.Host {
		return fmt.Errorf("%q is not an origin; write scheme://host[:port] exactly as the browser sends it, such as https://app.example.com (no path, no *)", o)
	}
	return nil
}

// allowed returns the request's Origin when the policy allows it.
func (p *corsPolicy) allowed(r *http.Request) (string, bool) {
	o := r.Header["Origin"]
	if len(o) != 1 || !p.origins[o[0]] {
		return "", false
	}
	return o[0], true
}

// preflight answers a CORS preflight: 204, with the Access-Control-Allow-*
// headers when its origin is allowed (without them, the browser refuses
// the request it asked about).
func (p *corsPolicy) preflight(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if origin, ok := p.allowed(r); ok {
		h.Set("Access-Control-Allow-Origin", origin)
		if m := r.Header.Get("Access-Control-Request-Method"); httpToken(m) {
			h.Set("Access-Control-Allow-Methods", m)
		}
		h.Set("Access-Control-Allow-Headers", p.allowHeaders)
		if p.credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if p.maxAge != "" {
			h.Set("Access-Control-Max-Age", p.maxAge)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wrap returns the writer of a request's answer: for a request from an
// allowed origin, one that sets the CORS response headers when the answer
// is written (replacing any the upstream sent, so that the browser sees
// each once); otherwise w.
func (p *corsPolicy) wrap(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if p == nil {
		return w
	}
	origin, ok := p.allowed(r)
	if !ok {
		return w
	}
	return &headerWriter{ResponseWriter: w, origin: origin, credentials: p.credentials}
}

// headerWriter finishes an answer's header when it is written: the CORS
// headers for an allowed origin (origin set), and on the routes of
// jwt_issue that pass on (dropIssue), none of the app's X-Jwt-Issue-*
// names.
type headerWriter struct {
	http.ResponseWriter
	origin      string
	credentials bool
	dropIssue   bool
	wrote       bool
}

func (hw *headerWriter) WriteHeader(status int) {
	if !hw.wrote {
		h := hw.ResponseWriter.Header()
		if hw.dropIssue {
			dropIssueHeaders(h)
		}
		if hw.origin != "" {
			h.Set("Access-Control-Allow-Origin", hw.origin)
			if hw.credentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if !headerHasToken(h["Vary"], "Origin") {
				h.Add("Vary", "Origin")
			}
		}
		hw.wrote = status >= 200
	}
	hw.ResponseWriter.WriteHeader(status)
}

func (hw *headerWriter) Write(b []byte) (int, error) {
	if !hw.wrote {
		hw.WriteHeader(http.StatusOK)
	}
	return hw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the client's writer
// (deadlines, hijacking); FlushError finishes the header first.
func (hw *headerWriter) Unwrap() http.ResponseWriter { return hw.ResponseWriter }

func (hw *headerWriter) FlushError() error {
	if !hw.wrote {
		hw.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(hw.ResponseWriter).Flush()
}

// headerHasToken reports whether a comma-separated header lists tok.
func headerHasToken(lines []string, tok string) bool {
	for _, line := range lines {
		for _, t := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}
