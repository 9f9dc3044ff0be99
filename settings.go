package jwtextended

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Number and duration settings (leeway, the ttls, cache_size, the throttle
// numbers, ...) accept placeholders such as {env.LEEWAY}, like every text
// setting. Such a value cannot be checked when the Caddyfile is adapted,
// so it travels as text: the Caddyfile parser and UnmarshalJSON keep it in
// the struct's placeholderSettings under the setting's JSON key, leaving
// the typed field at zero; MarshalJSON writes it back in place of the
// field as a JSON string; and Provision resolves it with Caddy's global
// replacer and sets the typed field, refusing a result that is not a
// valid value for the setting, by name.
//
// The exported fields keep their Go types (caddy.Duration, int, *int), so
// that code and tests that set them directly are unaffected; a plain
// value adapts to the same JSON as without placeholders.

// placeholderSettings holds, by JSON key, the text of each number or
// duration setting whose value holds a placeholder, until Provision.
type placeholderSettings map[string]string

// set records the placeholder text of a setting.
func (ph *placeholderSettings) set(key, text string) {
	if *ph == nil {
		*ph = placeholderSettings{}
	}
	(*ph)[key] = text
}

// hasPlaceholder reports whether s holds a {...} placeholder.
func hasPlaceholder(s string) bool {
	i := strings.IndexByte(s, '{')
	return i >= 0 && strings.IndexByte(s[i+1:], '}') >= 0
}

var durationType = reflect.TypeFor[caddy.Duration]()

// takesPlaceholderText reports whether a field of type t is a number or
// duration setting that may carry placeholder text.
func takesPlaceholderText(t reflect.Type) bool {
	return t == durationType || t.Kind() == reflect.Int ||
		(t.Kind() == reflect.Pointer && (t.Elem().Kind() == reflect.Int || t.Elem().Kind() == reflect.Bool))
}

// settingField is one exported field of a config struct and its JSON key.
type settingField struct {
	key   string
	index int
}

// settingFields lists the JSON keys of the struct type t in field order.
func settingFields(t reflect.Type) []settingField {
	var fields []settingField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if key == "-" {
			continue
		}
		if key == "" {
			key = f.Name
		}
		fields = append(fields, settingField{key, i})
	}
	return fields
}

// marshalSettings encodes plain, a pointer to a config struct type without
// JSON methods, with the text of each setting in ph in place of that
// setting, in the struct's field order.
func marshalSettings(plain any, ph placeholderSettings) ([]byte, error) {
	b, err := json.Marshal(plain)
	if err != nil || len(ph) == 0 {
		return b, err
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(b, &values); err != nil {
		return nil, err
	}
	for key, text := range ph {
		if values[key], err = json.Marshal(text); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for _, f := range settingFields(reflect.TypeOf(plain).Elem()) {
		v, ok := values[f.key]
		if !ok {
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(v)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// unmarshalSettings decodes b into plain, a pointer to a config struct
// type without JSON methods, refusing unknown keys as Caddy does. A number
// or duration setting given as a string with a placeholder is left at zero
// and returned in the placeholderSettings.
func unmarshalSettings(b []byte, plain any) (placeholderSettings, error) {
	var values map[string]json.RawMessage
	if err := json.Unmarshal(b, &values); err != nil {
		return nil, err
	}
	var ph placeholderSettings
	t := reflect.TypeOf(plain).Elem()
	for _, f := range settingFields(t) {
		raw, ok := values[f.key]
		if !ok || !takesPlaceholderText(t.Field(f.index).Type) {
			continue
		}
		var text string
		if json.Unmarshal(raw, &text) != nil || !hasPlaceholder(text) {
			continue
		}
		ph.set(f.key, text)
		delete(values, f.key)
	}
	if ph != nil {
		var err error
		if b, err = json.Marshal(values); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return ph, dec.Decode(plain)
}

// resolveSettings resolves the placeholders of each setting in ph with
// Caddy's global replacer ({env.*}, {file.*}, ...) and sets the setting's
// field of config, a pointer to a config struct. A result that is not a
// duration or a whole number, or is negative, is refused with the setting
// named after module.
func resolveSettings(module string, config any, ph placeholderSettings) error {
	repl := caddy.NewReplacer()
	v := reflect.ValueOf(config).Elem()
	byKey := map[string]int{}
	for _, f := range settingFields(v.Type()) {
		byKey[f.key] = f.index
	}
	keys := make([]string, 0, len(ph))
	for key := range ph {
		keys = append(keys, key)
	}
	slices.Sort(keys) // the first error is the same every time
	for _, key := range keys {
		text := ph[key]
		i, ok := byKey[key]
		if !ok {
			return fmt.Errorf("%s: %s is not a setting", module, key)
		}
		resolved, err := repl.ReplaceOrErr(text, true, true)
		if err != nil {
			return fmt.Errorf("%s: resolving placeholders in %s: %v", module, key, err)
		}
		resolved = strings.TrimSpace(resolved)
		switch p := v.Field(i).Addr().Interface().(type) {
		case *caddy.Duration:
			d, err := caddy.ParseDuration(resolved)
			if err != nil || d < 0 {
				return fmt.Errorf("%s: %s: %s resolved to %q, which is not a duration such as 30s or 15m", module, key, text, resolved)
			}
			*p = caddy.Duration(d)
		case *int:
			n, err := wholeNumber(resolved)
			if err != nil {
				return fmt.Errorf("%s: %s: %s resolved to %q, which is not a whole number", module, key, text, resolved)
			}
			*p = n
		case **int:
			n, err := wholeNumber(resolved)
			if err != nil {
				return fmt.Errorf("%s: %s: %s resolved to %q, which is not a whole number", module, key, text, resolved)
			}
			*p = &n
		case **bool:
			switch strings.ToLower(resolved) {
			case "on", "true":
				*p = new(true)
			case "off", "false":
				*p = new(false)
			default:
				return fmt.Errorf("%s: %s: %s resolved to %q, which is not on or off", module, key, text, resolved)
			}
		default:
			return fmt.Errorf("%s: %s does not take placeholder text", module, key)
		}
	}
	return nil
}

// wholeNumber parses a number not below 0.
func wholeNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && n < 0 {
		err = fmt.Errorf("negative")
	}
	return n, err
}

// appJSON is App without its JSON methods.
type appJSON App

// MarshalJSON writes the app's settings, with placeholder text in place of
// the number and duration settings that hold one.
func (a App) MarshalJSON() ([]byte, error) {
	return marshalSettings((*appJSON)(&a), a.placeholders)
}

// UnmarshalJSON reads the app's settings; a number or duration setting may
// be a string with placeholders, resolved at Provision.
func (a *App) UnmarshalJSON(b []byte) error {
	var old struct {
		Revocation *struct {
			SyncInterval json.RawMessage `json:"sync_interval"`
		} `json:"revocation"`
	}
	if json.Unmarshal(b, &old) == nil && old.Revocation != nil {
		return fmt.Errorf(`jwt: "revocation": {"sync_interval": ...} is now "revocation_sync": ..., the name the Caddyfile uses`)
	}
	ph, err := unmarshalSettings(b, (*appJSON)(a))
	a.placeholders = ph
	return err
}

// throttleJSON is ThrottleConfig without its JSON methods.
type throttleJSON ThrottleConfig

// MarshalJSON writes the throttle's settings, with placeholder text in
// place of the numbers that hold one.
func (c ThrottleConfig) MarshalJSON() ([]byte, error) {
	return marshalSettings((*throttleJSON)(&c), c.placeholders)
}

// UnmarshalJSON reads the throttle's settings; a number may be a string
// with placeholders, resolved at Provision.
func (c *ThrottleConfig) UnmarshalJSON(b []byte) error {
	ph, err := unmarshalSettings(b, (*throttleJSON)(c))
	c.placeholders = ph
	return err
}

// resolved returns the throttle settings with their placeholders resolved.
func (c ThrottleConfig) resolved() (ThrottleConfig, error) {
	err := resolveSettings("jwt_issue: throttle", &c, c.placeholders)
	c.placeholders = nil
	return c, err
}

// issueJSON is Issue without its JSON methods.
type issueJSON Issue

// MarshalJSON writes the handler's settings, with placeholder text in
// place of the duration settings that hold one (rotate_grace).
func (h Issue) MarshalJSON() ([]byte, error) {
	return marshalSettings((*issueJSON)(&h), h.placeholders)
}

// UnmarshalJSON reads the handler's settings; a duration setting may be a
// string with placeholders, resolved at Provision.
func (h *Issue) UnmarshalJSON(b []byte) error {
	ph, err := unmarshalSettings(b, (*issueJSON)(h))
	h.placeholders = ph
	return err
}

// cookieJSON and csrfJSON are the blocks without their JSON methods.
type (
	cookieJSON CookieConfig
	csrfJSON   CSRFConfig
)

// MarshalJSON writes the cookie block, with placeholder text in place of
// the switches that hold one.
func (c CookieConfig) MarshalJSON() ([]byte, error) {
	return marshalSettings((*cookieJSON)(&c), c.placeholders)
}

// UnmarshalJSON reads the cookie block; a switch may be a string with
// placeholders, resolved at Provision.
func (c *CookieConfig) UnmarshalJSON(b []byte) error {
	ph, err := unmarshalSettings(b, (*cookieJSON)(c))
	c.placeholders = ph
	return err
}

// MarshalJSON writes the csrf block, with placeholder text in place of the
// switches that hold one.
func (c CSRFConfig) MarshalJSON() ([]byte, error) {
	return marshalSettings((*csrfJSON)(&c), c.placeholders)
}

// UnmarshalJSON reads the csrf block; a switch may be a string with
// placeholders, resolved at Provision.
func (c *CSRFConfig) UnmarshalJSON(b []byte) error {
	ph, err := unmarshalSettings(b, (*csrfJSON)(c))
	c.placeholders = ph
	return err
}
