package strictjson

import "unicode/utf8"

// HasControlChar reports whether any string in v, a value as Decode gives
// it (member names included), holds a control character (below 0x20, or
// 0x7f) or invalid UTF-8: such a value could split a header or a log line
// downstream. Configured claims are checked with it at load.
func HasControlChar(v any) bool {
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
			if HasControlChar(k) || HasControlChar(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if HasControlChar(e) {
				return true
			}
		}
	}
	return false
}
