package oidcflow

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxReturnTo bounds a return_to that SafeReturnTo accepts, so that it
// fits the transaction cookie.
const MaxReturnTo = 2048

// SafeReturnTo returns raw when it is a safe place to send the browser
// after a login, and "/" otherwise. Safe is:
//
//   - a path of this site: it starts with a single "/" (not "//", and no
//     backslash anywhere, which browsers read as "/"), has no scheme or
//     host, and does not start with "//" once percent-decoded either;
//   - or an absolute http or https URL, without user info, whose origin
//     (scheme://host[:port], the scheme and host compared
//     case-insensitively, a default port the same as none) is one of
//     allowedOrigins.
//
// In both cases raw must be valid UTF-8 without control characters or
// spaces, and at most MaxReturnTo bytes. Anything else (relative paths,
// "javascript:", "//evil.com", another port of an allowed host, ...) is
// "/".
func SafeReturnTo(raw string, allowedOrigins []string) string {
	if raw == "" || len(raw) > MaxReturnTo || !utf8.ValidString(raw) || strings.ContainsAny(raw, "\\ ") {
		return "/"
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 {
			return "/"
		}
	}
	if raw[0] == '/' {
		if strings.HasPrefix(raw, "//") {
			return "/"
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return "/"
		}
		if dec, err := url.PathUnescape(raw); err != nil || strings.HasPrefix(dec, "//") || strings.ContainsAny(dec, "\\") {
			return "/"
		}
		return raw
	}
	origin, ok := originOf(raw)
	if !ok {
		return "/"
	}
	for _, a := range allowedOrigins {
		if o, ok := originOf(a); ok && o == origin {
			return raw
		}
	}
	return "/"
}

// originOf returns the normalized origin of an absolute http(s) URL:
// lower-case scheme and host, the port only when it is not the scheme's
// default.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}
