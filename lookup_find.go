package jwtextended

// Finding a token in a request: the header, cookie, query and JSON body
// sources in the order a handler lists them, and flask-jwt-extended's
// refusal when none has one.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
)

// extractToken looks the token up in the sources, in order, and
// returns the first found. cookieName is the cookie read in cookie mode
// (access_token_cookie, or refresh_token_cookie where a refresh token is
// wanted); refresh picks refresh_json_key over json_key. When no source has
// a token it returns the refusal that flask-jwt-extended gives.
func extractToken(r *http.Request, sources []tokenSource, names *tokenNames, cookieName string, refresh bool) (string, tokenSource, *authError) {
	names = names.orDefault()
	var firstErr, jsonErr, headerErr *authError
	for _, s := range sources {
		var tok string
		var err *authError
		switch s {
		case sourceHeader:
			tok, err = names.fromHeader(r)
			headerErr = err
		case sourceCookie:
			tok, err = tokenFromCookie(r, cookieName)
		case sourceQuery:
			tok, err = names.fromQuery(r)
		case sourceJSON:
			tok, err = names.fromJSON(r, refresh)
			jsonErr = err
		}
		if err == nil {
			return tok, s, nil
		}
		if firstErr == nil || (firstErr.missing && !err.missing) {
			// a malformed header says more than a missing cookie
			firstErr = err
		}
	}
	noToken := firstErr != nil && (firstErr.missing || firstErr == names.badHeaderType)
	if noToken && len(sources) > 1 {
		// as flask-jwt-extended: a header of another type is one more
		// place without a token, named in the "Missing JWT in" message
		return "", 0, names.missingFromAll(sources, cookieName, jsonErr, headerErr)
	}
	return "", 0, firstErr
}

// fromHeader reads the token from the header, as flask-jwt-extended does:
// `<header_type> <JWT>`, or with header_type "" the whole value. A header
// of another type is no token here (optional routes pass it on); one of
// the configured type that is malformed is refused.
func (n *tokenNames) fromHeader(r *http.Request) (string, *authError) {
	vals := r.Header[n.header]
	switch len(vals) {
	case 0:
		return "", n.missingHeader
	case 1:
	default:
		return "", n.multipleHeaders
	}
	v := strings.TrimSpace(vals[0])
	if v == "" {
		return "", n.missingHeader
	}
	tok := v
	if n.headerType != "" {
		if strings.IndexByte(v, ',') >= 0 {
			// a list of credentials (flask accepts one of its type among
			// them); a token never holds a comma
			return "", n.badHeaderType
		}
		i := indexSpace(v)
		// the scheme is case-insensitive (RFC 7235)
		if !strings.EqualFold(v[:i], n.headerType) {
			return "", n.badHeaderType
		}
		if i == len(v) || v[i] != ' ' {
			return "", n.badHeader
		}
		tok = v[i+1:]
	}
	if tok == "" || indexSpace(tok) < len(tok) {
		return "", n.badHeader
	}
	if len(tok) > jws.MaxTokenSize {
		return "", errTooLarge
	}
	return tok, nil
}

// indexSpace is the index of the first space or tab in s, or len(s): two
// vectorized byte searches, where strings.IndexAny walks a token byte by
// byte on every request.
func indexSpace(s string) int {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		i = len(s)
	}
	if j := strings.IndexByte(s[:i], '\t'); j >= 0 {
		return j
	}
	return i
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
	return "", missingCookie(name)
}

// missingCookie is the refusal when the cookie name has no token, built
// once per name (the names come from configuration, never from requests).
func missingCookie(name string) *authError {
	switch name {
	case refreshCookieName:
		return errMissingRefreshCookie
	case accessCookieName:
		return errMissingAccessCookie
	}
	if e, ok := missingCookies.Load(name); ok {
		return e.(*authError)
	}
	e, _ := missingCookies.LoadOrStore(name, newAuthError(401, "missing", fmt.Sprintf("Missing cookie %q", name)).asMissing())
	return e.(*authError)
}

// missingCookies holds missingCookie's refusals of configured cookie names.
var missingCookies sync.Map

func (n *tokenNames) fromQuery(r *http.Request) (string, *authError) {
	if r.URL.RawQuery == "" {
		return "", n.missingQuery
	}
	v := r.URL.Query().Get(n.queryParam)
	if v == "" {
		return "", n.missingQuery
	}
	if len(v) > jws.MaxTokenSize {
		return "", errTooLarge
	}
	return v, nil
}

// fromJSON reads the token from the json_key field (refresh_json_key where
// a refresh token is wanted) of a JSON object body: only with Content-Type
// application/json, and only within maxIssueBody bytes (a larger body is
// refused with 413). The body is put back as it was, so the upstream reads
// it unchanged. As in flask-jwt-extended, a body that is not valid JSON, or
// whose field is absent, null or empty, has no token.
func (n *tokenNames) fromJSON(r *http.Request, refresh bool) (string, *authError) {
	missing, key := n.missingJSON, n.jsonKey
	if refresh {
		missing, key = n.missingRefJSON, n.refreshJSONKey
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", errNotJSON
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return "", errNotJSON
	}
	body, e := peekBody(r)
	if e != nil {
		return "", e
	}
	m, _ := strictjson.Decode(body)
	if m == nil {
		return "", missing
	}
	switch v := m[key].(type) {
	case nil:
		return "", missing
	case string:
		if v == "" {
			return "", missing
		}
		if len(v) > jws.MaxTokenSize {
			return "", errTooLarge
		}
		return v, nil
	}
	// a number, object, ...: a token that cannot be one
	return "", errMalformed
}

// peekBody reads the request body, at most maxIssueBody bytes, and puts it
// back: what was read, followed by whatever was not.
func peekBody(r *http.Request) ([]byte, *authError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	orig := r.Body
	var buf bytes.Buffer
	_, err := buf.ReadFrom(io.LimitReader(orig, maxIssueBody+1))
	body := buf.Bytes()
	if err == nil && len(body) <= maxIssueBody {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		return body, nil
	}
	r.Body = &restoredBody{Reader: io.MultiReader(bytes.NewReader(body), orig), Closer: orig}
	switch {
	case err == nil:
		return nil, errBodyTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errBodyTimeout
	}
	return nil, errBodyUnreadable
}

// restoredBody is a request body of which a part was read: that part,
// then the rest.
type restoredBody struct {
	io.Reader
	io.Closer
}

// missingFromAll returns the refusal when none of the sources has a token,
// built once per list of sources (and cookie, and JSON message): building
// it on every request without a token would allocate on the anonymous
// path of optional routes. jsonErr is the json source's refusal, if it was
// tried.
func (n *tokenNames) missingFromAll(sources []tokenSource, cookieName string, jsonErr, headerErr *authError) *authError {
	if headerErr != n.badHeaderType {
		headerErr = nil // the header's reason is "missing" unless it was of another type
	}
	if len(sources) > 10 {
		return n.buildMissingFromAll(sources, cookieName, jsonErr, headerErr)
	}
	k := missingKey{cookie: cookieName, json: jsonErr, header: headerErr}
	for i, s := range sources {
		k.sources |= uint32(s) << (3 * i)
	}
	if m := n.missing.Load(); m != nil {
		if e, ok := (*m)[k]; ok {
			return e
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.missing.Load()
	if old != nil {
		if e, ok := (*old)[k]; ok {
			return e
		}
	}
	e := n.buildMissingFromAll(sources, cookieName, jsonErr, headerErr)
	if old != nil && len(*old) >= 64 {
		return e // a bound, never reached by a configuration
	}
	m := make(map[missingKey]*authError, 1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[k] = e
	n.missing.Store(&m)
	return e
}

func (n *tokenNames) buildMissingFromAll(sources []tokenSource, cookieName string, jsonErr, headerErr *authError) *authError {
	var where, why []string
	for _, s := range sources {
		switch s {
		case sourceHeader:
			if headerErr == nil {
				headerErr = n.missingHeader
			}
			where, why = append(where, "headers"), append(why, headerErr.msg)
		case sourceCookie:
			where, why = append(where, "cookies"), append(why, missingCookie(cookieName).msg)
		case sourceQuery:
			where, why = append(where, "query_string"), append(why, n.missingQuery.msg)
		case sourceJSON:
			if jsonErr == nil {
				jsonErr = n.missingJSON
			}
			where, why = append(where, "json"), append(why, jsonErr.msg)
		}
	}
	// flask-jwt-extended's wording: its location names, "a, b or c"
	locs := strings.Join(where[:len(where)-1], ", ") + " or " + where[len(where)-1]
	return newAuthError(401, "missing", fmt.Sprintf("Missing JWT in %s (%s)", locs, strings.Join(why, "; "))).asMissing()
}
