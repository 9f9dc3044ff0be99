package strictjson

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeObject decodes a header or payload that Scan
// accepted into what encoding/json's Decoder with UseNumber gives for
// map[string]any: objects as map[string]any, arrays as []any (never nil),
// strings unescaped, numbers as json.Number with their literal text, and
// true, false and null. On input the scan accepted it gives exactly
// encoding/json's result (FuzzJSONScan checks this), at a fraction of the
// cost: no reflection, and no allocation beyond the values themselves.
// It must not be called on input the scan refused.
func decodeObject(data []byte) map[string]any {
	d := decoder{data: data}
	d.space()
	d.pos++ // '{'
	return d.object()
}

type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) object() map[string]any {
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

func (d *decoder) array() []any {
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

func (d *decoder) value() any {
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
func (d *decoder) str() string {
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
func (d *decoder) unescape(start int) string {
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

func (d *decoder) hex4() rune {
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

// Decode scans data and, when it is one well-formed object with unique
// names and valid Unicode, decodes it. The fault is Scan's. The map is
// nil unless the fault is OK or BadChar: a control character leaves the
// text unambiguous, so the caller decides (tokens refuse it; a password
// in a request body may hold a tab).
func Decode(data []byte) (map[string]any, Fault) {
	f := Scan(data)
	if f != OK && f != BadChar {
		return nil, f
	}
	return decodeObject(data), f
}
