// Package strictjson is the one JSON reader of the module for text a client
// sends: the JOSE header, the token payload and the issuer's request
// bodies. Scan checks, in one pass and without allocating for typical
// input, that the text is exactly one JSON object that two parsers cannot
// read differently (no duplicate names, even under case folding; no
// invalid Unicode; no control characters); Decode then decodes it as
// encoding/json with UseNumber would, without reflection.
package strictjson

import (
	"bytes"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of objects and arrays in a token's header
// and payload; the top-level object is depth 1.
const MaxDepth = 32

// Fault is what Scan found wrong with a header or payload.
type Fault uint8

const (
	// OK: one JSON object, nothing wrong with it.
	OK Fault = iota
	// Syntax: not exactly one JSON object (with optional white space
	// around it), or nested deeper than MaxDepth.
	Syntax
	// BadUnicode: invalid UTF-8, or an escaped surrogate that is not
	// half of a pair (encoding/json reads both as U+FFFD, so two
	// different payloads would read alike).
	BadUnicode
	// Duplicate: two member names of one object are equal when
	// compared case-insensitively, after unescaping.
	Duplicate
	// BadChar: a string (a name or a value) holds a control character
	// (below 0x20, or 0x7f), raw or escaped.
	BadChar
)

// maxListedNames is how many member names of one object are compared
// one by one before the scanner switches that object to a map: typical
// tokens never get there, so a scan allocates nothing, and a header stuffed
// with thousands of names still costs linear time.
const maxListedNames = 16

// Scan checks, in one pass over the raw bytes and without
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
func Scan(data []byte) Fault {
	s := scanners.Get().(*scanner)
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
var scanners = sync.Pool{New: func() any { return new(scanner) }}

// maxPooledKeys bounds the name buffer a pooled scanner keeps.
const maxPooledKeys = 4 << 10

func (s *scanner) scan(data []byte) Fault {
	s.data, s.pos = data, 0
	s.badUnicode, s.dup, s.badChar = false, false, false
	s.keys, s.names = s.keys[:0], s.names[:0]
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return Syntax
	}
	s.pos++
	if f := s.object(1); f != OK {
		return f
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return Syntax
	}
	switch {
	case s.badUnicode:
		return BadUnicode
	case s.dup:
		return Duplicate
	case s.badChar:
		return BadChar
	}
	return OK
}

// scanner is the state of one scan: the folded names of the objects
// being read are kept back to back in keys, and their spans in names.
type scanner struct {
	data []byte
	pos  int
	// faults found so far; the scan goes on after them, so that one that
	// takes precedence can still be found
	badUnicode, dup, badChar bool
	keys                     []byte
	names                    []nameSpan
}

type nameSpan struct{ start, end int }

func (s *scanner) skipSpace() {
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
func (s *scanner) object(depth int) Fault {
	if depth > MaxDepth {
		return Syntax
	}
	firstName, firstKey := len(s.names), len(s.keys)
	var seen map[string]struct{} // only past maxListedNames names
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return OK
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return Syntax
		}
		s.pos++
		start := len(s.keys)
		if f := s.str(true); f != OK {
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
			return Syntax
		}
		s.pos++
		if f := s.value(depth); f != OK {
			return f
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return Syntax
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.names, s.keys = s.names[:firstName], s.keys[:firstKey]
			return OK
		default:
			return Syntax
		}
	}
}

// listed reports whether key is among the names listed since firstName.
func (s *scanner) listed(firstName int, key []byte) bool {
	for _, n := range s.names[firstName:] {
		if bytes.Equal(s.keys[n.start:n.end], key) {
			return true
		}
	}
	return false
}

// array reads the elements and the closing bracket of an array whose '['
// was consumed.
func (s *scanner) array(depth int) Fault {
	if depth > MaxDepth {
		return Syntax
	}
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return OK
	}
	for {
		if f := s.value(depth); f != OK {
			return f
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return Syntax
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return OK
		default:
			return Syntax
		}
	}
}

// value reads one value inside a container at depth.
func (s *scanner) value(depth int) Fault {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return Syntax
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
	return Syntax
}

func (s *scanner) literal(lit string) Fault {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return Syntax
	}
	s.pos += len(lit)
	return OK
}

// number reads a number as RFC 8259 spells it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() Fault {
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(d) {
		return Syntax
	}
	switch {
	case d[s.pos] == '0':
		s.pos++
	case '1' <= d[s.pos] && d[s.pos] <= '9':
		s.digits()
	default:
		return Syntax
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return Syntax
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return Syntax
		}
	}
	return OK
}

func (s *scanner) digits() int {
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
func (s *scanner) str(fold bool) Fault {
	d := s.data
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return OK
		case c < 0x20:
			// JSON forbids raw control characters in strings
			return Syntax
		case c == '\\':
			r, f := s.escape()
			if f != OK {
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
	return Syntax
}

// escape reads an escape sequence at s.pos and returns the rune it stands
// for.
func (s *scanner) escape() (rune, Fault) {
	d := s.data
	if s.pos+1 >= len(d) {
		return 0, Syntax
	}
	c := d[s.pos+1]
	s.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), OK
	case 'b':
		s.badChar = true
		return '\b', OK
	case 'f':
		s.badChar = true
		return '\f', OK
	case 'n':
		s.badChar = true
		return '\n', OK
	case 'r':
		s.badChar = true
		return '\r', OK
	case 't':
		s.badChar = true
		return '\t', OK
	case 'u':
	default:
		return 0, Syntax
	}
	r, ok := s.hex4()
	if !ok {
		return 0, Syntax
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
				return 0, Syntax
			}
			if 0xdc00 <= lo && lo < 0xe000 {
				return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), OK
			}
			s.pos = save // the next escape is read on its own
		}
		s.badUnicode = true
		return utf8.RuneError, OK
	case 0xdc00 <= r && r < 0xe000:
		s.badUnicode = true
		return utf8.RuneError, OK
	}
	return r, OK
}

func (s *scanner) hex4() (rune, bool) {
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
func (s *scanner) appendFolded(r rune) {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		s.keys = append(s.keys, byte(r))
		return
	}
	s.keys = utf8.AppendRune(s.keys, foldRune(r))
}

// Fold returns the folded form of a member name, as Scan compares names:
// two names are duplicates exactly when their folded forms are equal.
func Fold(name string) string {
	s := scanner{}
	for _, r := range name {
		s.appendFolded(r)
	}
	return string(s.keys)
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
