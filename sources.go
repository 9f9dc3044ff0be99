package jwtextended

import (
	"fmt"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"net/http"
	"strings"
	"sync/atomic"
)

// tokenSource is one place a token is looked up: the Authorization header,
// a cookie or a query parameter.
type tokenSource uint8

const (
	sourceHeader tokenSource = iota + 1
	sourceCookie
	sourceQuery
)

// Names of the places tokens are looked up, as flask-jwt-extended names them.
const (
	accessCookieName  = "access_token_cookie"
	refreshCookieName = "refresh_token_cookie"
	accessCSRFCookie  = "csrf_access_token"
	refreshCSRFCookie = "csrf_refresh_token"
	csrfHeaderName    = "X-Csrf-Token" // canonical form of X-CSRF-TOKEN
	queryParamName    = "jwt"
)

func (s tokenSource) String() string {
	switch s {
	case sourceHeader:
		return "header"
	case sourceCookie:
		return "cookie"
	case sourceQuery:
		return "query"
	}
	return "none"
}

// parseTokenSources turns the words of a token_from setting into sources,
// refusing unknown words and repeats.
func parseTokenSources(setting string, words []string) ([]tokenSource, error) {
	out := make([]tokenSource, 0, len(words))
	for _, w := range words {
		var s tokenSource
		switch strings.ToLower(w) {
		case "header":
			s = sourceHeader
		case "cookie":
			s = sourceCookie
		case "query":
			s = sourceQuery
		default:
			return nil, fmt.Errorf("%s: unknown token source %q; use header, cookie or query", setting, w)
		}
		for _, have := range out {
			if have == s {
				return nil, fmt.Errorf("%s: %s is listed twice", setting, w)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// extractToken looks the token up in the sources, in order, and returns
// the first found. cookieName is the cookie read in cookie mode
// (access_token_cookie, or refresh_token_cookie where a refresh token is
// wanted). When no source has a token it returns the refusal that
// flask-jwt-extended gives.
func extractToken(r *http.Request, sources []tokenSource, cookieName string) (string, tokenSource, *authError) {
	var firstErr *authError
	for _, s := range sources {
		var tok string
		var err *authError
		switch s {
		case sourceHeader:
			tok, err = tokenFromHeader(r)
		case sourceCookie:
			tok, err = tokenFromCookie(r, cookieName)
		case sourceQuery:
			tok, err = tokenFromQuery(r)
		}
		if err == nil {
			return tok, s, nil
		}
		if firstErr == nil || (firstErr.missing && !err.missing) {
			// a malformed header says more than a missing cookie
			firstErr = err
		}
	}
	if firstErr != nil && firstErr.missing && len(sources) > 1 {
		return "", 0, missingFromAll(sources, cookieName)
	}
	return "", 0, firstErr
}

func tokenFromHeader(r *http.Request) (string, *authError) {
	vals := r.Header["Authorization"]
	switch len(vals) {
	case 0:
		return "", errMissingHeader
	case 1:
	default:
		return "", errMultipleHeaders
	}
	v := vals[0]
	if v == "" {
		return "", errMissingHeader
	}
	const scheme = "Bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", errBadHeaderType
	}
	tok := v[len(scheme):]
	if strings.IndexByte(tok, ' ') >= 0 {
		return "", errBadHeaderType
	}
	if len(tok) > jws.MaxTokenSize {
		return "", errTooLarge
	}
	return tok, nil
}

func tokenFromCookie(r *http.Request, name string) (string, *authError) {
	// Read the Cookie header directly rather than through r.Cookie, which
	// parses every cookie; refuse oversized values before anything else.
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) > jws.MaxTokenSize {
				return "", errTooLarge
			}
			if v == "" {
				continue
			}
			return v, nil
		}
	}
	if name == refreshCookieName {
		return "", errMissingRefreshCookie
	}
	return "", errMissingAccessCookie
}

func tokenFromQuery(r *http.Request) (string, *authError) {
	if r.URL.RawQuery == "" {
		return "", errMissingQuery
	}
	v := r.URL.Query().Get(queryParamName)
	if v == "" {
		return "", errMissingQuery
	}
	if len(v) > jws.MaxTokenSize {
		return "", errTooLarge
	}
	return v, nil
}

// missingRefusals memoizes missingFromAll: there are few lists of sources,
// and building the refusal (its message and JSON body) on every request
// without a token would allocate on the anonymous path of optional routes.
// Indexed by the list (two bits per source, at most three) and whether the
// refresh cookie is meant.
var missingRefusals [2 << 6]atomic.Pointer[authError]

// missingFromAll is flask-jwt-extended's message when no location has a
// token: "Missing JWT in headers or cookies (Missing Authorization Header;
// Missing cookie "access_token_cookie")".
func missingFromAll(sources []tokenSource, cookieName string) *authError {
	idx := 0
	for i, s := range sources {
		idx |= int(s) << (2 * i)
	}
	if cookieName == refreshCookieName {
		idx |= 1 << 6
	}
	if len(sources) > 3 {
		return buildMissingFromAll(sources, cookieName)
	}
	if e := missingRefusals[idx].Load(); e != nil {
		return e
	}
	e := buildMissingFromAll(sources, cookieName)
	missingRefusals[idx].Store(e)
	return e
}

func buildMissingFromAll(sources []tokenSource, cookieName string) *authError {
	var where, why []string
	for _, s := range sources {
		switch s {
		case sourceHeader:
			where, why = append(where, "headers"), append(why, errMissingHeader.msg)
		case sourceCookie:
			where = append(where, "cookies")
			if cookieName == refreshCookieName {
				why = append(why, errMissingRefreshCookie.msg)
			} else {
				why = append(why, errMissingAccessCookie.msg)
			}
		case sourceQuery:
			where, why = append(where, "query string"), append(why, errMissingQuery.msg)
		}
	}
	return newAuthError(401, "missing", fmt.Sprintf("Missing JWT in %s (%s)", strings.Join(where, " or "), strings.Join(why, "; "))).asMissing()
}
