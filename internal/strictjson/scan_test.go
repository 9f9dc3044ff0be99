package strictjson

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The oracle: the checks the module made before Scan existed: utf8.Valid
// and json.Valid, a decode with UseNumber, refUniqueMembers over
// encoding/json's token stream, and refHasControlChar over the decoded map.
// They read the JSON by a different route than the scanner; they live here
// only, as the reference the scanner is fuzzed against.

// scanRefVerdict is the oracle's reading of data, step by step as
// checkClaims took them.
type scanRefVerdict struct {
	valid   bool // utf8.Valid, json.Valid and a non-nil decoded object
	decoded map[string]any
	unique  bool // scanRefUniqueMembers
	control bool // scanRefHasControlChar on the decoded map
	// Where Scan is deliberately stricter than the old checks:
	loneSurrogate bool // an escaped lone surrogate (encoding/json reads U+FFFD)
	foldOnlyDup   bool // names equal under bytes.EqualFold but not strings.ToLower
	// ambiguous: a decoded U+FFFD that may be literal, so loneSurrogate
	// cannot be told from the decoded value.
	ambiguous bool
}

// want is the fault the old checks' first failing step stands for.
func (v scanRefVerdict) want() Fault {
	switch {
	case !v.valid:
		return Syntax // or BadUnicode: both are errBadPayloadJSON
	case !v.unique:
		return Duplicate // or Syntax past the depth bound
	case v.control:
		return BadChar
	}
	return OK
}

func scanRefRead(data []byte) scanRefVerdict {
	var v scanRefVerdict
	if !utf8.Valid(data) || !json.Valid(data) {
		return v
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v.decoded); err != nil || v.decoded == nil {
		return v
	}
	v.valid = true
	v.unique = refUniqueMembers(data)
	v.control = refHasControlChar(v.decoded)
	replaced := scanTestHasReplacementChar(v.decoded)
	explicit := bytes.Contains(data, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(data), []byte(`\ufffd`))
	v.ambiguous = replaced && explicit
	v.loneSurrogate = replaced && !explicit
	v.foldOnlyDup = scanTestFoldDup(v.decoded)
	return v
}

func scanTestHasReplacementChar(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsRune(x, utf8.RuneError)
	case map[string]any:
		for k, e := range x {
			if scanTestHasReplacementChar(k) || scanTestHasReplacementChar(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if scanTestHasReplacementChar(e) {
				return true
			}
		}
	}
	return false
}

// scanTestFoldDup reports two names of one object that bytes.EqualFold
// takes as equal (the decoded map has no exact duplicates).
func scanTestFoldDup(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		names := make([]string, 0, len(x))
		for k, e := range x {
			for _, n := range names {
				if strings.EqualFold(n, k) {
					return true
				}
			}
			names = append(names, k)
			if scanTestFoldDup(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if scanTestFoldDup(e) {
				return true
			}
		}
	}
	return false
}

// scanTestCheck compares Scan with the oracle on data: the same
// refusal class as the old checks' first failing step, except where the
// scanner is deliberately stricter (lone surrogates, names equal only under
// Unicode case folding); and what it accepts, encoding/json decodes, and
// decodeObject decodes identically.
func scanTestCheck(t *testing.T, data []byte) {
	t.Helper()
	got := Scan(data)
	ref := scanRefRead(data)
	want := ref.want()
	ok := got == want
	switch {
	case want == Syntax:
		ok = got == Syntax || got == BadUnicode
	case want == Duplicate:
		// past the depth bound the old check also said "not unique"
		ok = got == Duplicate || got == Syntax || got == BadUnicode && (ref.loneSurrogate || ref.ambiguous)
	case ref.loneSurrogate && got == BadUnicode:
		ok = true
	case ref.ambiguous && (got == BadUnicode || got == OK):
		ok = true // a lone surrogate or a literal U+FFFD: either may be right
	case ref.foldOnlyDup && got == Duplicate:
		ok = true
	case want == OK && (ref.loneSurrogate || ref.foldOnlyDup):
		ok = false // must be refused
	}
	if !ok {
		t.Fatalf("Scan(%q) = fault %d, the old checks say %d (%+v)", data, got, want, ref)
	}
	if got == OK {
		if !ref.valid || ref.decoded == nil {
			t.Fatalf("Scan accepts %q, encoding/json cannot decode it", data)
		}
		// and decodeObject must read it exactly as encoding/json does
		if dec := decodeObject(data); !reflect.DeepEqual(dec, ref.decoded) {
			t.Fatalf("decodeObject(%q) = %#v, encoding/json gives %#v", data, dec, ref.decoded)
		}
	}
}

func TestScanJSONObject(t *testing.T) {
	deep := func(n int, open, close string) string {
		return `{"a":` + strings.Repeat(open, n-1) + `1` + strings.Repeat(close, n-1) + `}`
	}
	manyNames := func(n int, dup string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			b.WriteString(`"n` + strings.Repeat("x", i) + `":1,`)
		}
		b.WriteString(`"` + dup + `":2}`)
		return b.String()
	}
	for _, tc := range []struct {
		name string
		in   string
		want Fault
	}{
		// exactly one object
		{"typical header", `{"alg":"HS256","typ":"JWT"}`, OK},
		{"typical payload", `{"sub":"user1","type":"access","fresh":true,"jti":"j-1","iat":1700000000,"nbf":1700000000,"exp":1700003600,"roles":["a","b"],"n":null,"f":false,"x":-1.5e+3}`, OK},
		{"empty object", `{}`, OK},
		{"white space around", " \t\r\n{ \"a\" : 1 , \"b\" : [ ] }\n ", OK},
		{"empty input", ``, Syntax},
		{"array", `[]`, Syntax},
		{"string", `"a"`, Syntax},
		{"null", `null`, Syntax},
		{"two objects", `{}{}`, Syntax},
		{"trailing garbage", `{"a":1}x`, Syntax},
		{"trailing comma", `{"a":1,}`, Syntax},
		{"unterminated", `{"a":1`, Syntax},
		{"unterminated string", `{"a":"b}`, Syntax},
		{"missing colon", `{"a" 1}`, Syntax},
		{"name not a string", `{a:1}`, Syntax},
		{"BOM", "\uFEFF{}", Syntax},
		{"bad literal", `{"a":tru}`, Syntax},
		{"leading zero", `{"a":01}`, Syntax},
		{"bare minus", `{"a":-}`, Syntax},
		{"dot without digits", `{"a":1.}`, Syntax},
		{"exponent without digits", `{"a":1e+}`, Syntax},
		{"plus sign", `{"a":+1}`, Syntax},
		{"bad escape", `{"a":"\x"}`, Syntax},
		{"short unicode escape", `{"a":"\u12"}`, Syntax},
		{"raw newline in string", "{\"a\":\"x\ny\"}", Syntax},
		// depth bound: the top object is depth 1, 32 is the limit
		{"depth 32 objects", deep(32, `{"a":`, `}`), OK},
		{"depth 33 objects", deep(33, `{"a":`, `}`), Syntax},
		{"depth 32 arrays", deep(32, `[`, `]`), OK},
		{"depth 33 arrays", deep(33, `[`, `]`), Syntax},
		// duplicate names, case-insensitively, at any depth
		{"duplicate", `{"type":"access","type":"refresh"}`, Duplicate},
		{"case variant", `{"type":"access","Type":"refresh"}`, Duplicate},
		{"escaped spelling", `{"type":"access","typ\u0065":"refresh"}`, Duplicate},
		{"escaped upper case", `{"type":"access","\u0054YPE":"refresh"}`, Duplicate},
		{"escaped solidus", `{"a/b":1,"a\/b":2}`, Duplicate},
		{"nested duplicate", `{"a":{"x":1,"X":2}}`, Duplicate},
		{"duplicate in array element", `{"a":[{"k":1},{"k":1,"K":2}]}`, Duplicate},
		{"same name in sibling objects", `{"a":{"k":1},"b":{"k":2},"k":3}`, OK},
		{"same name at two depths", `{"k":{"k":{"k":1}}}`, OK},
		{"empty names", `{"":1,"":2}`, Duplicate},
		{"Kelvin sign", "{\"kid\":\"a\",\"\u212aid\":\"b\"}", Duplicate},
		{"long s (EqualFold only)", "{\"s\":1,\"\u017f\":2}", Duplicate},
		{"dotted capital I (ToLower only)", "{\"id\":1,\"\u0130d\":2}", Duplicate},
		{"Greek sigma forms", "{\"\u03a3\":1,\"\u03c2\":2}", Duplicate},
		{"distinct non-ASCII names", "{\"\u00e9\":1,\"e\":2}", OK},
		{"astral pair escaped and raw", "{\"\\ud83d\\ude00\":1,\"\U0001F600\":2}", Duplicate},
		{"17 names then duplicate (map path)", manyNames(17, "NX"), Duplicate},
		{"40 names then duplicate (map path)", manyNames(40, "n"+strings.Repeat("x", 38)+"X"), Duplicate},
		{"40 distinct names", manyNames(40, "other"), OK},
		{"duplicate wins over later control character", `{"a":1,"A":"\n"}`, Duplicate},
		{"duplicate wins over earlier control character", `{"a":"\n","A":1}`, Duplicate},
		{"invalid UTF-8 wins over earlier duplicate", "{\"a\":1,\"A\":\"\xff\"}", BadUnicode},
		{"syntax wins over earlier duplicate", `{"a":1,"A":2,}`, Syntax},
		{"number too large for float64", `{"a":1e400}`, OK},
		{"syntax wins over control character", `{"a":"\n",}`, Syntax},
		// control characters, raw or escaped, in names and values
		{"escaped newline value", `{"a":"x\ny"}`, BadChar},
		{"escaped CR value", `{"a":"x\r"}`, BadChar},
		{"escaped tab value", `{"a":"\t"}`, BadChar},
		{"escaped backspace", `{"a":"\b"}`, BadChar},
		{"escaped form feed", `{"a":"\f"}`, BadChar},
		{"escaped NUL", `{"a":"\u0000"}`, BadChar},
		{"escaped 1f", `{"a":"\u001F"}`, BadChar},
		{"escaped DEL", `{"a":"\u007f"}`, BadChar},
		{"raw DEL", "{\"a\":\"\x7f\"}", BadChar},
		{"control character in a name", `{"a\nb":1}`, BadChar},
		{"control character deep in an array", `{"a":[1,{"b":["\r"]}]}`, BadChar},
		{"space and printable escapes are fine", `{"a":"\u0020\u007e\"\\\/"}`, OK},
		{"non-ASCII is fine", "{\"a\":\"caf\u00e9 \u2603 \U0001F600\"}", OK},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", BadUnicode},
		{"truncated UTF-8", "{\"a\":\"\xe2\x98\"}", BadUnicode},
		{"UTF-8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", BadUnicode},
		{"invalid UTF-8 in a name", "{\"\xc3\":1}", BadUnicode},
		{"lone high surrogate", `{"a":"\ud800"}`, BadUnicode},
		{"high surrogate then letter", `{"a":"\ud800\u0041"}`, BadUnicode},
		{"lone low surrogate", `{"a":"\udc00"}`, BadUnicode},
		{"surrogate pair", `{"a":"\uD83D\uDE00"}`, OK},
		{"high surrogate then bad escape", `{"a":"\ud800\u12"}`, Syntax},
		// values decodeObject must render as encoding/json does
		{"escapes", `{"q":"a\"b\\c\/d\u00e9\u2603\ud83d\ude00","\u0041":"x"}`, OK},
		{"numbers kept as written", `{"a":-0,"b":1.50,"c":1E+2,"d":12345678901234567890123,"e":[0.1e-7]}`, OK},
		{"empty containers and null", `{"a":[],"b":{},"c":null,"d":[[],{}],"e":""}`, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Scan([]byte(tc.in)); got != tc.want {
				t.Fatalf("Scan(%q) = %d, want %d", tc.in, got, tc.want)
			}
			scanTestCheck(t, []byte(tc.in))
		})
	}
}

// TestFoldRune checks, for every rune, that foldRune merges what
// strings.ToLower merges and what bytes.EqualFold (encoding/json's name
// matching) merges.
func TestFoldRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if 0xd800 <= r && r < 0xe000 {
			continue
		}
		k := foldRune(r)
		if l := unicode.ToLower(r); foldRune(l) != k {
			t.Fatalf("foldRune(%U) = %U, foldRune(ToLower = %U) = %U", r, k, l, foldRune(l))
		}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if foldRune(f) != k {
				t.Fatalf("foldRune(%U) = %U, but its fold %U gives %U", r, k, f, foldRune(f))
			}
		}
		if r < utf8.RuneSelf && k != rune(strings.ToLower(string(r))[0]) {
			t.Fatalf("foldRune(%q) = %q, want lower case", r, k)
		}
	}
}

// TestScanJSONObjectAllocations: a typical header and payload scan
// allocates nothing (scanners are pooled; the first run warms the pool).
func TestScanJSONObjectAllocations(t *testing.T) {
	// The race detector makes sync.Pool drop items at random; then the
	// pool cannot be what keeps the scan allocation-free.
	var p sync.Pool
	x := new(int)
	for i := 0; i < 100; i++ {
		p.Put(x)
		if p.Get() != x {
			t.Skip("sync.Pool does not keep items here (race detector)")
		}
	}
	hdr := []byte(`{"alg":"ES256","typ":"JWT","kid":"key-2024-01"}`)
	payload := []byte(`{"sub":"user1","type":"access","fresh":true,"jti":"0f6c5c4e-7d7e-4e55-9a8e-1d5b7f3c2a10","iat":1700000000,"nbf":1700000000,"exp":1700003600,"roles":["admin","ops"],"org":{"id":42,"name":"Acme"},"csrf":"c5d1"}`)
	n := testing.AllocsPerRun(100, func() {
		if Scan(hdr) != OK || Scan(payload) != OK {
			t.Fatal("refused")
		}
	})
	if n != 0 {
		t.Fatalf("Scan allocates %v times per header+payload, want 0", n)
	}
}

func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{
		`{"alg":"HS256","typ":"JWT"}`,
		`{"sub":"u","type":"access","fresh":true,"exp":1700003600,"aud":["a","b"],"o":{"k":[1,2,{"z":null}]}}`,
		`{"type":"a","Type":"b"}`,
		`{"type":"a","typ\u0065":"b"}`,
		"{\"kid\":\"a\",\"\u212aid\":\"b\"}",
		"{\"s\":1,\"\u017f\":2}",
		"{\"id\":1,\"\u0130d\":2}",
		`{"a":"x\ny"}`,
		`{"a":"\u007f"}`,
		"{\"a\":\"\x7f\"}",
		"{\"a\":\"\xff\"}",
		`{"a":"\ud800"}`,
		`{"a":"\ud800\udc00"}`,
		`{"a":"\ufffd\ud800"}`,
		`{"a":1e5,"b":-0.5,"c":0}`,
		`{"a":1e400,"b":"\ufffd"}`,
		"{\"a\":1,\"A\":\"\xff\"}",
		`{"a":01}`,
		`{} `,
		`{}{}`,
		`[]`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		scanTestCheck(t, data)
	})
}

// refUniqueMembers reports whether data is one JSON object whose member names
// are unique, compared case-insensitively at every depth. encoding/json keeps
// the last of duplicate names and matches struct fields case-insensitively,
// so "type" and "Type" in one payload would otherwise let two parsers
// disagree about a token.
func refUniqueMembers(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number too large for float64 is still valid JSON
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	if !refObjectMembersUnique(dec, 1) {
		return false
	}
	// nothing may follow the object
	_, err = dec.Token()
	return err == io.EOF
}

// refObjectMembersUnique reads the rest of an object whose '{' was consumed.
func refObjectMembersUnique(dec *json.Decoder, depth int) bool {
	if depth > MaxDepth {
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
		if !refSkipValue(dec, depth) {
			return false
		}
	}
	tok, err := dec.Token() // '}'
	return err == nil && tok == json.Delim('}')
}

func refSkipValue(dec *json.Decoder, depth int) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		return refObjectMembersUnique(dec, depth+1)
	case json.Delim('['):
		if depth+1 > MaxDepth {
			return false
		}
		for dec.More() {
			if !refSkipValue(dec, depth+1) {
				return false
			}
		}
		tok, err := dec.Token()
		return err == nil && tok == json.Delim(']')
	}
	return true
}

// refHasControlChar is the reference check of control characters and
// invalid UTF-8 in decoded values.
func refHasControlChar(v any) bool {
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
			if refHasControlChar(k) || refHasControlChar(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if refHasControlChar(e) {
				return true
			}
		}
	}
	return false
}
