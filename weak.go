package jwtextended

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Number, duration and switch settings accept placeholders such as
// {env.LEEWAY}, like every text setting. Such a value cannot be checked
// when the config is adapted, so these settings have weak types, in the
// manner of caddyhttp.WeakString: each holds the setting's text (empty
// when unset) and resolves it at Provision with Caddy's global replacer,
// refusing, by name, a result that is not a value of its kind. In JSON a
// plain value is written as before (a duration as its nanoseconds, a
// number, true or false) and one with a placeholder as a string.

// WeakDuration is a duration setting: a number of nanoseconds or a
// duration such as "15m" in JSON, or text with placeholders.
type WeakDuration string

// WeakInt is a whole-number setting: a JSON number, or text with
// placeholders.
type WeakInt string

// WeakBool is an on/off setting: true or false in JSON, or text with
// placeholders that resolves to on, off, true or false.
type WeakBool string

// weakDuration is d as a setting.
func weakDuration(d time.Duration) WeakDuration {
	return WeakDuration(strconv.FormatInt(int64(d), 10))
}

// weakBool is b as a setting.
func weakBool(b bool) WeakBool { return WeakBool(strconv.FormatBool(b)) }

// hasPlaceholder reports whether s holds a {...} placeholder.
func hasPlaceholder(s string) bool {
	i := strings.IndexByte(s, '{')
	return i >= 0 && strings.IndexByte(s[i+1:], '}') >= 0
}

// MarshalJSON writes a plain duration as its nanoseconds (as
// caddy.Duration does) and placeholder text as a string.
func (w WeakDuration) MarshalJSON() ([]byte, error) {
	if hasPlaceholder(string(w)) {
		return json.Marshal(string(w))
	}
	d, err := w.parse()
	if err != nil {
		return nil, err
	}
	return strconv.AppendInt(nil, int64(d), 10), nil
}

// UnmarshalJSON reads a number of nanoseconds, a duration string such as
// "15m" (as caddy.Duration does), or text with placeholders.
func (w *WeakDuration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*w = WeakDuration(strconv.FormatInt(n, 10))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*w = WeakDuration(s)
	if hasPlaceholder(s) {
		return nil
	}
	_, err := caddy.ParseDuration(s) // as caddy.Duration reads a string
	return err
}

// parse reads the text of a setting without placeholders: nanoseconds, or
// a duration such as 15m or 1d.
func (w WeakDuration) parse() (time.Duration, error) {
	if n, err := strconv.ParseInt(string(w), 10, 64); err == nil {
		return time.Duration(n), nil
	}
	return caddy.ParseDuration(string(w))
}

// resolve returns the duration, its placeholders resolved; 0 when unset.
// A result that is not a duration, or is negative, is refused, naming the
// setting key of module.
func (w WeakDuration) resolve(module, key string) (time.Duration, error) {
	if w == "" {
		return 0, nil
	}
	text := string(w)
	if !hasPlaceholder(text) {
		d, err := w.parse()
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %v", module, key, err)
		}
		return d, nil
	}
	resolved, err := resolveText(module, key, text)
	if err != nil {
		return 0, err
	}
	d, err := caddy.ParseDuration(resolved)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %s: %s resolved to %q, which is not a duration such as 30s or 15m", module, key, text, resolved)
	}
	return d, nil
}

// MarshalJSON writes a plain number as a number and placeholder text as
// a string.
func (w WeakInt) MarshalJSON() ([]byte, error) {
	if hasPlaceholder(string(w)) {
		return json.Marshal(string(w))
	}
	n, err := strconv.Atoi(string(w))
	if err != nil {
		return nil, err
	}
	return strconv.AppendInt(nil, int64(n), 10), nil
}

// UnmarshalJSON reads a whole number, or text with placeholders.
func (w *WeakInt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if !hasPlaceholder(s) {
			return fmt.Errorf("a number setting takes a number or a placeholder, not %q", s)
		}
		*w = WeakInt(s)
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*w = WeakInt(strconv.Itoa(n))
	return nil
}

// resolve returns the number, its placeholders resolved, and whether it
// is set. A result that is not a whole number of 0 or more is refused,
// naming the setting key of module.
func (w WeakInt) resolve(module, key string) (int, bool, error) {
	if w == "" {
		return 0, false, nil
	}
	text := string(w)
	if !hasPlaceholder(text) {
		n, err := strconv.Atoi(text)
		return n, true, err
	}
	resolved, err := resolveText(module, key, text)
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.Atoi(resolved)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("%s: %s: %s resolved to %q, which is not a whole number", module, key, text, resolved)
	}
	return n, true, nil
}

// MarshalJSON writes a plain switch as true or false and placeholder text
// as a string.
func (w WeakBool) MarshalJSON() ([]byte, error) {
	if hasPlaceholder(string(w)) {
		return json.Marshal(string(w))
	}
	b, err := strconv.ParseBool(string(w))
	if err != nil {
		return nil, err
	}
	return strconv.AppendBool(nil, b), nil
}

// UnmarshalJSON reads true or false, or text with placeholders.
func (w *WeakBool) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if !hasPlaceholder(s) {
			return fmt.Errorf("a switch takes true, false or a placeholder, not %q", s)
		}
		*w = WeakBool(s)
		return nil
	}
	var v bool
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*w = weakBool(v)
	return nil
}

// resolve returns the switch, its placeholders resolved, or def when it
// is unset. A result other than on, off, true or false is refused, naming
// the setting key of module.
func (w WeakBool) resolve(module, key string, def bool) (bool, error) {
	if w == "" {
		return def, nil
	}
	text := string(w)
	if !hasPlaceholder(text) {
		return strconv.ParseBool(text)
	}
	resolved, err := resolveText(module, key, text)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(resolved) {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: %s: %s resolved to %q, which is not on or off", module, key, text, resolved)
}

// resolveText resolves the global placeholders ({env.*}, {file.*}, ...)
// of a number, duration or switch setting; the error names the setting,
// never the value.
func resolveText(module, key, text string) (string, error) {
	resolved, err := caddy.NewReplacer().ReplaceOrErr(text, true, true)
	if err != nil {
		return "", fmt.Errorf("%s: resolving placeholders in %s: %v", module, key, err)
	}
	return strings.TrimSpace(resolved), nil
}
