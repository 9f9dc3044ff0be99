package jwtextended

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
	"sync/atomic"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
)

// tokenSource is one place a token is looked up: the Authorization header
// (or the header named by header_name), a cookie, a query parameter or a
// field of a JSON body.
type tokenSource uint8

const (
	sourceHeader tokenSource = iota + 1
	sourceCookie
	sourceQuery
	sourceJSON
)

// Names of the places tokens are looked up, as flask-jwt-extended names them.
const (
	accessCookieName  = "access_token_cookie"
	refreshCookieName = "refresh_token_cookie"
	accessCSRFCookie  = "csrf_access_token"
	refreshCSRFCookie = "csrf_refresh_token"
	queryParamName    = "jwt"
	headerName        = "Authorization"
	headerType        = "Bearer"
	jsonKey           = "access_token"
	refreshJSONKey    = "refresh_token"
)

func (s tokenSource) String() string {
	switch s {
	case sourceHeader:
		return "header"
	case sourceCookie:
		return "cookie"
	case sourceQuery:
		return "query"
	case sourceJSON:
		return "json"
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
		case "json":
			s = sourceJSON
		default:
			return nil, fmt.Errorf("%s: unknown token source %q; use header, cookie, query or json", setting, w)
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

// TokenLookup is where a token is looked up and under which names, as
// flask-jwt-extended's JWT_TOKEN_LOCATION, JWT_HEADER_NAME and their
// kin. The jwt app's settings are the defaults of its handlers; a
// handler's own take precedence, each on its own.
type TokenLookup struct {
	// Where tokens are looked up, in order: header, cookie, query, json
	// (a field of a JSON request body). Default: header; header cookie
	// when a jwt_issue of the config delivers cookies.
	TokenFrom []string `json:"token_from,omitempty"`

	// The header a token is read from (JWT_HEADER_NAME). Default:
	// Authorization.
	HeaderName string `json:"header_name,omitempty"`

	// The type (scheme) before the token in that header (JWT_HEADER_TYPE),
	// matched case-insensitively. Default: Bearer; "" reads the whole
	// header value as the token.
	HeaderType *string `json:"header_type,omitempty"`

	// The query parameter a token is read from (JWT_QUERY_STRING_NAME).
	// Default: jwt.
	QueryParam string `json:"query_param,omitempty"`

	// The field of a JSON body an access token is read from
	// (JWT_JSON_KEY). Default: access_token.
	JSONKey string `json:"json_key,omitempty"`

	// The field of a JSON body a refresh token is read from, where a
	// refresh token is wanted (JWT_REFRESH_JSON_KEY). Default:
	// refresh_token.
	RefreshJSONKey string `json:"refresh_json_key,omitempty"`
}

// resolvePlaceholders replaces the global placeholders in the lookup
// settings, once, at load; the error names the setting.
func (l *TokenLookup) resolvePlaceholders() error {
	if err := resolveEach("token_from", pointers(l.TokenFrom)...); err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		v    *string
	}{{"header_name", &l.HeaderName}, {"header_type", l.HeaderType}, {"query_param", &l.QueryParam}, {"json_key", &l.JSONKey}, {"refresh_json_key", &l.RefreshJSONKey}} {
		if s.v == nil {
			continue
		}
		if err := resolveEach(s.name, s.v); err != nil {
			return err
		}
	}
	return nil
}

// setsNames reports whether any name is set (token_from aside).
func (l *TokenLookup) setsNames() bool {
	return l.HeaderName != "" || l.HeaderType != nil || l.QueryParam != "" || l.JSONKey != "" || l.RefreshJSONKey != ""
}

// tokenNames returns the names of l, with their refusals; the defaults'
// own when every name is the default.
func (l *TokenLookup) tokenNames() *tokenNames {
	return newTokenNames(l.HeaderName, l.HeaderType, l.QueryParam, l.JSONKey, l.RefreshJSONKey)
}

// handlerNames returns the names a handler looks tokens up under: the
// app's, with the handler's own settings in place of those it sets.
func handlerNames(who string, own TokenLookup, app *App) (*tokenNames, error) {
	if !own.setsNames() {
		return app.names, nil
	}
	if err := checkTokenNames(who, own.HeaderName, own.HeaderType); err != nil {
		return nil, err
	}
	merged := app.TokenLookup
	if own.HeaderName != "" {
		merged.HeaderName = own.HeaderName
	}
	if own.HeaderType != nil {
		merged.HeaderType = own.HeaderType
	}
	if own.QueryParam != "" {
		merged.QueryParam = own.QueryParam
	}
	if own.JSONKey != "" {
		merged.JSONKey = own.JSONKey
	}
	if own.RefreshJSONKey != "" {
		merged.RefreshJSONKey = own.RefreshJSONKey
	}
	return merged.tokenNames(), nil
}

// tokenNames are the names a token is looked up under (header_name,
// header_type, query_param, json_key, refresh_json_key), with the refusals
// that name them, built once per configuration: looking a token up and
// refusing one allocates nothing more than with the default names.
type tokenNames struct {
	header         string // canonical form, the key of http.Header
	headerType     string // "" reads the whole header value as the token
	queryParam     string
	jsonKey        string
	refreshJSONKey string

	missingHeader   *authError
	badHeaderType   *authError // a header of another type: no token here
	badHeader       *authError // a header of the configured type, malformed
	multipleHeaders *authError
	missingQuery    *authError
	missingJSON     *authError
	missingRefJSON  *authError

	// missing memoizes missingFromAll per list of sources (copy on write;
	// there are a handful of lists per configuration).
	mu      sync.Mutex
	missing atomic.Pointer[map[missingKey]*authError]
}

// missingKey names one "no token in any source" refusal: the sources (three
// bits each, in order), the cookie read, and which JSON message applies.
type missingKey struct {
	sources uint32
	cookie  string
	json    *authError
	header  *authError
}

// defaultNames are flask-jwt-extended's names; their refusals are the
// package's (errMissingHeader, ...), which tests and callers compare with.
var defaultNames = func() *tokenNames {
	n := &tokenNames{
		header: headerName, headerType: headerType, queryParam: queryParamName,
		jsonKey: jsonKey, refreshJSONKey: refreshJSONKey,
		missingHeader: errMissingHeader, badHeaderType: errBadHeaderType, badHeader: errBadHeader,
		multipleHeaders: errMultipleHeaders, missingQuery: errMissingQuery,
	}
	n.missingJSON, n.missingRefJSON = missingJSONKey(jsonKey), missingJSONKey(refreshJSONKey)
	return n
}()

// newTokenNames returns the names of a configuration, with its refusals;
// the defaults' own when every name is the default.
func newTokenNames(header string, headerType *string, query, key, refreshKey string) *tokenNames {
	n := &tokenNames{
		header: http.CanonicalHeaderKey(header), headerType: defaultNames.headerType,
		queryParam: query, jsonKey: key, refreshJSONKey: refreshKey,
	}
	if header == "" {
		n.header = defaultNames.header
	}
	if headerType != nil {
		n.headerType = *headerType
	}
	if query == "" {
		n.queryParam = defaultNames.queryParam
	}
	if key == "" {
		n.jsonKey = defaultNames.jsonKey
	}
	if refreshKey == "" {
		n.refreshJSONKey = defaultNames.refreshJSONKey
	}
	if n.header == defaultNames.header && n.headerType == defaultNames.headerType && n.queryParam == defaultNames.queryParam &&
		n.jsonKey == defaultNames.jsonKey && n.refreshJSONKey == defaultNames.refreshJSONKey {
		return defaultNames
	}
	h, t := n.header, n.headerType
	n.missingHeader = newAuthError(401, "missing", fmt.Sprintf("Missing %s Header", h)).asMissing()
	n.badHeaderType = newAuthError(401, "bad_authorization_header", fmt.Sprintf("Missing '%s' type in '%s' header. Expected '%s: %s <JWT>'", t, h, h, t)).asNoToken()
	if t == "" {
		n.badHeader = newAuthError(401, "bad_authorization_header", fmt.Sprintf("Bad %s header. Expected '%s: <JWT>'", h, h)).asNoToken()
	} else {
		n.badHeader = newAuthError(401, "bad_authorization_header", fmt.Sprintf("Bad %s header. Expected '%s: %s <JWT>'", h, h, t)).asNoToken()
	}
	n.multipleHeaders = newAuthError(401, "bad_authorization_header", fmt.Sprintf("Only one %s header is allowed", h)).asNoToken()
	n.missingQuery = newAuthError(401, "missing", fmt.Sprintf("Missing %q query parameter", n.queryParam)).asMissing()
	n.missingJSON, n.missingRefJSON = missingJSONKey(n.jsonKey), missingJSONKey(n.refreshJSONKey)
	return n
}

// missingJSONKey is flask-jwt-extended's refusal when a JSON body lacks the
// token's field.
func missingJSONKey(key string) *authError {
	return newAuthError(401, "missing", fmt.Sprintf("Missing %q key in json data.", key)).asMissing()
}

// orDefault is n, or the default names for a handler set up without them.
func (n *tokenNames) orDefault() *tokenNames {
	if n == nil {
		return defaultNames
	}
	return n
}

// extractToken looks the token up in the sources, in order, under the
// default names. See extractTokenNamed.
func extractToken(r *http.Request, sources []tokenSource, cookieName string) (string, tokenSource, *authError) {
	return extractTokenNamed(r, sources, defaultNames, cookieName, cookieName == refreshCookieName)
}

// extractTokenNamed looks the token up in the sources, in order, and
// returns the first found. cookieName is the cookie read in cookie mode
// (access_token_cookie, or refresh_token_cookie where a refresh token is
// wanted); refresh picks refresh_json_key over json_key. When no source has
// a token it returns the refusal that flask-jwt-extended gives.
func extractTokenNamed(r *http.Request, sources []tokenSource, names *tokenNames, cookieName string, refresh bool) (string, tokenSource, *authError) {
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

func tokenFromHeader(r *http.Request) (string, *authError) { return defaultNames.fromHeader(r) }

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

func tokenFromQuery(r *http.Request) (string, *authError) { return defaultNames.fromQuery(r) }

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

// missingFromAll is flask-jwt-extended's message when no location has a
// token, under the default names: "Missing JWT in headers or cookies
// (Missing Authorization Header; Missing cookie "access_token_cookie")".
func missingFromAll(sources []tokenSource, cookieName string) *authError {
	return defaultNames.missingFromAll(sources, cookieName, nil, nil)
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

// checkTokenNames refuses a header name or type that no request could
// carry: one that is not an HTTP token. (An empty query_param, json_key
// or refresh_json_key is unset and takes the default.)
func checkTokenNames(who, header string, headerType *string) error {
	var err error
	if header != "" && !isHTTPToken(header) {
		err = fmt.Errorf("header_name %q is not a valid header name", header)
	} else if headerType != nil && *headerType != "" && !isHTTPToken(*headerType) {
		err = fmt.Errorf("header_type %q must be one word, such as Bearer, or \"\" for a header that holds only the token", *headerType)
	}
	if err != nil && who != "" {
		err = fmt.Errorf("%s: %v", who, err)
	}
	return err
}

// isHTTPToken reports whether s is an RFC 9110 token (a header name or
// an authentication scheme).
func isHTTPToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// hasSource reports whether sources include s.
func hasSource(sources []tokenSource, s tokenSource) bool {
	for _, have := range sources {
		if have == s {
			return true
		}
	}
	return false
}

// sourceWords names sources as token_from writes them.
func sourceWords(sources []tokenSource) string {
	words := make([]string, len(sources))
	for i, s := range sources {
		words[i] = s.String()
	}
	return strings.Join(words, " ")
}
