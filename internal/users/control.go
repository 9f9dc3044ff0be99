package users

import "unicode/utf8"

// hasControlChar reports whether any string in v (names included) holds a
// control character or is not UTF-8: such a value could split a header or
// a log line downstream.
//
// It is the root package's hasControlChar (body.go), which internal/users
// cannot import; it belongs in internal/strictjson once that package
// exists, and this copy should then go.
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
