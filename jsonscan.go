package jwtextended

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of objects and arrays in a token's header
// and payload; the top-level object is depth 1.
const maxJSONDepth = 32

// jsonFault is what scanJSONObject found wrong with a header or payload.
type jsonFault uint8

const (
	jsonOK jsonFault = iota
	// jsonSyntax: not exactly one JSON object (with optional white space
	// around it), or nested deeper than maxJSONDepth.
	jsonSyntax
	// jsonBadUnicode: invalid UTF-8, or an escaped surrogate that is not
	// half of a pair (encoding/json reads both as U+FFFD, so two
	// different payloads would read alike).
	jsonBadUnicode
	// jsonDuplicate: two member names of one object are equal when
	// compared case-insensitively, after unescaping.
	jsonDuplicate
	// jsonBadChar: a string (a name or a value) holds a control character
	// (below 0x20, or 0x7f), raw or escaped.
	jsonBadChar
)

// maxListedNames is how many member names of one object are compared
// one by one before the scanner switches that object to a map: typical
// tokens never get there, so a scan allocates nothing, and a header stuffed
// with thousands of names still costs linear time.
const maxListedNames = 16

// scanJSONObject checks, in one pass over the raw bytes and without
// allocating for typical tokens, that data is exactly one JSON object,
// that no object in it repeats a member name (compared the way
// encoding/json matches names to struct fields, and as strings.ToLower
// would: "type", "Type" and "typ\u0065" are one name), and that no string
// in it holds a control character or invalid Unicode.
//
// A token whose claims two parsers could read differently is refused
// rather than interpreted: encoding/json keeps the last of duplicate names
// and matches struct fields case-insensitively, other libraries keep the
// first or match exactly; and a control character in a claim could split
// a header or a log line downstream. encoding/json silently replaces
// invalid UTF-8 and lone surrogates with U+FFFD; this scanner refuses them.
//
// When there are several faults, the first of this order is reported:
// syntax, invalid Unicode, duplicate name, control character (the order in
// which verify.go checked them before this scanner).
func scanJSONObject(data []byte) jsonFault {
	s := scanners.Get().(*jsonScanner)
	f := s.scan(data)
	s.data = nil // keep no token alive in the pool
	if cap(s.keys) > maxPooledKeys {
		s.keys, s.names = nil, nil
	}
	scanners.Put(s)
	return f
}

// scanners recycles scanners, whose name buffers would otherwise be
// allocated for every token.
var scanners = sync.Pool{New: func() any { return new(jsonScanner) }}

// maxPooledKeys bounds the name buffer a pooled scanner keeps.
const maxPooledKeys = 4 << 10

func (s *jsonScanner) scan(data []byte) jsonFault {
	s.data, s.pos = data, 0
	s.badUnicode, s.dup, s.badChar = false, false, false
	s.keys, s.names = s.keys[:0], s.names[:0]
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return jsonSyntax
	}
	s.pos++
	if f := s.object(1); f != jsonOK {
		return f
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return jsonSyntax
	}
	switch {
	case s.badUnicode:
		return jsonBadUnicode
	case s.dup:
		return jsonDuplicate
	case s.badChar:
		return jsonBadChar
	}
	return jsonOK
}

// jsonScanner is the state of one scan: the folded names of the objects
// being read are kept back to back in keys, and their spans in names.
type jsonScanner struct {
	data []byte
	pos  int
	// faults found so far; the scan goes on after them, so that one that
	// takes precedence can still be found
	badUnicode, dup, badChar bool
	keys                     []byte
	names                    []nameSpan
}

type nameSpan struct{ start, end int }

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// object reads the members and the closing brace of an object whose '{'
// was consumed.
func (s *jsonScanner) object(depth int) jsonFault {
	if depth > maxJSONDepth {
		return jsonSyntax
	}
	firstName, firstKey := len(s.names), len(s.keys)
	var seen map[string]struct{} // only past maxListedNames names
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return jsonOK
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return jsonSyntax
		}
		s.pos++
		start := len(s.keys)
		if f := s.str(true); f != jsonOK {
			return f
		}
		key := s.keys[start:]
		switch {
		case seen != nil:
			if _, dup := seen[string(key)]; dup {
				s.dup = true
			} else {
				seen[string(key)] = struct{}{}
			}
			s.keys = s.keys[:start]
		case s.listed(firstName, key):
			s.dup = true
			s.keys = s.keys[:start]
		default:
			s.names = append(s.names, nameSpan{start, len(s.keys)})
			if len(s.names)-firstName > maxListedNames {
				seen = make(map[string]struct{}, 2*maxListedNames)
				for _, n := range s.names[firstName:] {
					seen[string(s.keys[n.start:n.end])] = struct{}{}
				}
				s.names, s.keys = s.names[:firstName], s.keys[:firstKey]
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return jsonSyntax
		}
		s.pos++
		if f := s.value(depth); f != jsonOK {
			return f
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return jsonSyntax
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.names, s.keys = s.names[:firstName], s.keys[:firstKey]
			return jsonOK
		default:
			return jsonSyntax
		}
	}
}

// listed reports whether key is among the names listed since firstName.
func (s *jsonScanner) listed(firstName int, key []byte) bool {
	for _, n := range s.names[firstName:] {
		if bytes.Equal(s.keys[n.start:n.end], key) {
			return true
		}
	}
	return false
}

// array reads the elements and the closing bracket of an array whose '['
// was consumed.
func (s *jsonScanner) array(depth int) jsonFault {
	if depth > maxJSONDepth {
		return jsonSyntax
	}
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return jsonOK
	}
	for {
		if f := s.value(depth); f != jsonOK {
			return f
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return jsonSyntax
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return jsonOK
		default:
			return jsonSyntax
		}
	}
}

// value reads one value inside a container at depth.
func (s *jsonScanner) value(depth int) jsonFault {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return jsonSyntax
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		s.pos++
		return s.object(depth + 1)
	case c == '[':
		s.pos++
		return s.array(depth + 1)
	case c == '"':
		s.pos++
		return s.str(false)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return jsonSyntax
}

func (s *jsonScanner) literal(lit string) jsonFault {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return jsonSyntax
	}
	s.pos += len(lit)
	return jsonOK
}

// number reads a number as RFC 8259 spells it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() jsonFault {
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(d) {
		return jsonSyntax
	}
	switch {
	case d[s.pos] == '0':
		s.pos++
	case '1' <= d[s.pos] && d[s.pos] <= '9':
		s.digits()
	default:
		return jsonSyntax
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return jsonSyntax
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return jsonSyntax
		}
	}
	return jsonOK
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

// str reads the rest of a string whose opening quote was consumed. With
// fold, it appends the string's folded, unescaped form to s.keys. Bad
// Unicode or a control character is noted and the scan goes on.
func (s *jsonScanner) str(fold bool) jsonFault {
	d := s.data
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return jsonOK
		case c < 0x20:
			// JSON forbids raw control characters in strings
			return jsonSyntax
		case c == '\\':
			r, f := s.escape()
			if f != jsonOK {
				return f
			}
			if fold {
				s.appendFolded(r)
			}
		case c < utf8.RuneSelf:
			if c == 0x7f {
				s.badChar = true
			}
			if fold {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				s.keys = append(s.keys, c)
			}
			s.pos++
		default:
			r, size := utf8.DecodeRune(d[s.pos:])
			if r == utf8.RuneError && size == 1 {
				s.badUnicode = true
			}
			if fold {
				s.appendFolded(r)
			}
			s.pos += size
		}
	}
	return jsonSyntax
}

// escape reads an escape sequence at s.pos and returns the rune it stands
// for.
func (s *jsonScanner) escape() (rune, jsonFault) {
	d := s.data
	if s.pos+1 >= len(d) {
		return 0, jsonSyntax
	}
	c := d[s.pos+1]
	s.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), jsonOK
	case 'b':
		s.badChar = true
		return '\b', jsonOK
	case 'f':
		s.badChar = true
		return '\f', jsonOK
	case 'n':
		s.badChar = true
		return '\n', jsonOK
	case 'r':
		s.badChar = true
		return '\r', jsonOK
	case 't':
		s.badChar = true
		return '\t', jsonOK
	case 'u':
	default:
		return 0, jsonSyntax
	}
	r, ok := s.hex4()
	if !ok {
		return 0, jsonSyntax
	}
	switch {
	case r < 0x20 || r == 0x7f:
		s.badChar = true
	case 0xd800 <= r && r < 0xdc00:
		// a high surrogate must be followed by an escaped low one
		if s.pos+1 < len(d) && d[s.pos] == '\\' && d[s.pos+1] == 'u' {
			save := s.pos
			s.pos += 2
			lo, ok := s.hex4()
			if !ok {
				return 0, jsonSyntax
			}
			if 0xdc00 <= lo && lo < 0xe000 {
				return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), jsonOK
			}
			s.pos = save // the next escape is read on its own
		}
		s.badUnicode = true
		return utf8.RuneError, jsonOK
	case 0xdc00 <= r && r < 0xe000:
		s.badUnicode = true
		return utf8.RuneError, jsonOK
	}
	return r, jsonOK
}

func (s *jsonScanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, true
}

// appendFolded appends the folded form of r to s.keys.
func (s *jsonScanner) appendFolded(r rune) {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		s.keys = append(s.keys, byte(r))
		return
	}
	s.keys = utf8.AppendRune(s.keys, foldRune(r))
}

// foldRune maps r to one representative of the runes it must not be told
// apart from: those strings.ToLower maps to the same rune, and those
// bytes.EqualFold (and so encoding/json's field matching) takes as equal.
// That is the smallest rune of the simple case-folding orbit of r's lower
// case; for ASCII it is the lower-case letter.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	l := unicode.ToLower(r)
	m := l
	for f := unicode.SimpleFold(l); f != l; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	if m < utf8.RuneSelf && 'A' <= m && m <= 'Z' {
		m += 'a' - 'A' // keep ASCII letters in lower case, as the fast path does
	}
	return m
}

// decodeJSONObject decodes a header or payload that scanJSONObject
// accepted into what encoding/json's Decoder with UseNumber gives for
// map[string]any: objects as map[string]any, arrays as []any (never nil),
// strings unescaped, numbers as json.Number with their literal text, and
// true, false and null. On input the scan accepted it gives exactly
// encoding/json's result (FuzzJSONScan checks this), at a fraction of the
// cost: no reflection, and no allocation beyond the values themselves.
// It must not be called on input the scan refused.
func decodeJSONObject(data []byte) map[string]any {
	d := jsonDecoder{data: data}
	d.space()
	d.pos++ // '{'
	return d.object()
}

type jsonDecoder struct {
	data []byte
	pos  int
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) object() map[string]any {
	m := make(map[string]any)
	d.space()
	if d.data[d.pos] == '}' {
		d.pos++
		return m
	}
	for {
		d.space()
		d.pos++ // '"'
		name := d.str()
		d.space()
		d.pos++ // ':'
		m[name] = d.value()
		d.space()
		c := d.data[d.pos]
		d.pos++
		if c == '}' {
			return m
		}
	}
}

func (d *jsonDecoder) array() []any {
	a := make([]any, 0)
	d.space()
	if d.data[d.pos] == ']' {
		d.pos++
		return a
	}
	for {
		a = append(a, d.value())
		d.space()
		c := d.data[d.pos]
		d.pos++
		if c == ']' {
			return a
		}
	}
}

func (d *jsonDecoder) value() any {
	d.space()
	switch c := d.data[d.pos]; c {
	case '{':
		d.pos++
		return d.object()
	case '[':
		d.pos++
		return d.array()
	case '"':
		d.pos++
		return d.str()
	case 't':
		d.pos += len("true")
		return true
	case 'f':
		d.pos += len("false")
		return false
	case 'n':
		d.pos += len("null")
		return nil
	}
	start := d.pos
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case '0' <= c && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			d.pos++
			continue
		}
		break
	}
	return json.Number(d.data[start:d.pos])
}

// str reads the rest of a string whose opening quote was consumed.
func (d *jsonDecoder) str() string {
	start := d.pos
	for {
		switch d.data[d.pos] {
		case '"':
			s := string(d.data[start:d.pos])
			d.pos++
			return s
		case '\\':
			return d.unescape(start)
		}
		d.pos++
	}
}

// unescape reads a string with escapes from start, d.pos at the first one.
func (d *jsonDecoder) unescape(start int) string {
	buf := make([]byte, 0, len(d.data)-start)
	buf = append(buf, d.data[start:d.pos]...)
	for {
		c := d.data[d.pos]
		switch c {
		case '"':
			d.pos++
			return string(buf)
		case '\\':
		default:
			buf = append(buf, c)
			d.pos++
			continue
		}
		e := d.data[d.pos+1]
		d.pos += 2
		switch e {
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := d.hex4()
			if utf16.IsSurrogate(r) {
				// the scan let only whole pairs through
				d.pos += 2 // `\u`
				r = utf16.DecodeRune(r, d.hex4())
			}
			buf = utf8.AppendRune(buf, r)
		default: // '"', '\\', '/'
			buf = append(buf, e)
		}
	}
}

func (d *jsonDecoder) hex4() rune {
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r
}
