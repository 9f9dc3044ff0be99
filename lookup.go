package jwtextended

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
