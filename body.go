package jwtextended

// Checks of decoded JSON for the issuer's request bodies and user claims.
// Tokens are checked by the allocation-free scanner in jsonscan.go; these
// work on values already decoded, where speed does not matter.

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"
)

// hasControlChar reports whether any string in v (names included)
// holds a control character: such a value could split a header or a log
// line downstream, so the token is refused rather than sanitized.
func hasControlChar(v any) bool {
	switch x := v.(type) {
	case string:
		for i := 0; i < len(x); i++ {
			if c := x[i]; c < 0x20 || c == 0x7f {
				return true
			}
		}
		return !utf8.ValidString(x)
	case map[string]any:
		for k, e := range x {
			if hasControlChar(k) || hasControlChar(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasControlChar(e) {
				return true
			}
		}
	}
	return false
}

// uniqueMembers reports whether data is one JSON object whose member names
// are unique, compared case-insensitively at every depth. encoding/json keeps
// the last of duplicate names and matches struct fields case-insensitively,
// so "type" and "Type" in one payload would otherwise let two parsers
// disagree about a token.
func uniqueMembers(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number too large for float64 is still valid JSON
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	if !objectMembersUnique(dec, 1) {
		return false
	}
	// nothing may follow the object
	_, err = dec.Token()
	return err == io.EOF
}

// objectMembersUnique reads the rest of an object whose '{' was consumed.
func objectMembersUnique(dec *json.Decoder, depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	seen := make(map[string]struct{})
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		name, ok := tok.(string)
		if !ok {
			return false
		}
		key := strings.ToLower(name)
		if _, dup := seen[key]; dup {
			return false
		}
		seen[key] = struct{}{}
		if !skipValue(dec, depth) {
			return false
		}
	}
	tok, err := dec.Token() // '}'
	return err == nil && tok == json.Delim('}')
}

func skipValue(dec *json.Decoder, depth int) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		return objectMembersUnique(dec, depth+1)
	case json.Delim('['):
		if depth+1 > maxJSONDepth {
			return false
		}
		for dec.More() {
			if !skipValue(dec, depth+1) {
				return false
			}
		}
		tok, err := dec.Token()
		return err == nil && tok == json.Delim(']')
	}
	return true
}
