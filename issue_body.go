package jwtextended

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
)

// Request bodies of jwt_issue's routes: bounded in size and time, JSON
// (through strictjson) or form, and put back for the app behind Caddy.

// boundBodyRead sets the connection's read deadline to body_timeout from
// now, so that a client sending its body slowly cannot hold the route (and
// a connection) for longer; the returned func lifts it again. A writer
// without deadlines (a test recorder) is left as it is.
func (h *Issue) boundBodyRead(w http.ResponseWriter) func() {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(h.bodyTimeout)) != nil {
		return func() {}
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// readBodyFields reads a JSON or form body of at most maxIssueBody bytes
// and returns the wanted string fields. With required, every field must
// be present and the body must not be empty; otherwise an empty body is
// fine.
func readBodyFields(w http.ResponseWriter, r *http.Request, names []string, required bool) (map[string]string, *authError) {
	body, e := readIssueBody(w, r)
	if e != nil {
		return nil, e
	}
	if len(body) == 0 {
		switch {
		case !required:
			return map[string]string{}, nil
		case !knownMediaType(r):
			return nil, errUnsupportedMedia
		}
		return nil, errEmptyBody
	}
	var out map[string]string
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		out, e = jsonBodyFields(body, names)
	case "application/x-www-form-urlencoded":
		out, e = formBodyFields(body, names)
	default:
		e = errUnsupportedMedia
	}
	if e != nil {
		return nil, e
	}
	if required {
		for _, n := range names {
			if _, ok := out[n]; !ok {
				return nil, errFieldMissing.of(n)
			}
		}
	}
	return out, nil
}

// readIssueBody reads a request body of at most maxIssueBody bytes, and
// puts it back as the request's body, so that a delegated route passes it
// on to the app intact.
func readIssueBody(w http.ResponseWriter, r *http.Request) ([]byte, *authError) {
	var buf bytes.Buffer
	if r.Body == nil {
		r.Body = http.NoBody
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxIssueBody)); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, errBodyTooLarge
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, errBodyTimeout
		}
		return nil, errBadFormBody
	}
	body := buf.Bytes()
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

// jsonBodyFields reads the wanted string fields of a JSON object body,
// through the same strict reader as tokens: one object, no duplicate names
// (however their case), valid Unicode; null counts as absent.
func jsonBodyFields(body []byte, names []string) (map[string]string, *authError) {
	m, fault := strictjson.Decode(body)
	if m == nil {
		if fault == strictjson.Syntax && json.Valid(body) {
			return nil, errJSONNotObject
		}
		return nil, errBadJSONBody
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		v, present := m[n]
		if !present || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, errFieldNotString.of(n)
		}
		out[n] = s
	}
	return out, nil
}

// formBodyFields reads the wanted fields of a form body; a field given
// twice is refused.
func formBodyFields(body []byte, names []string) (map[string]string, *authError) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errBadFormBody
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		switch len(vals[n]) {
		case 0:
		case 1:
			out[n] = vals[n][0]
		default:
			return nil, errFieldDuplicated.of(n)
		}
	}
	return out, nil
}

func knownMediaType(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json" || mt == "application/x-www-form-urlencoded"
}

// revocationContext outlives a client that hangs up mid-logout: a
// revocation that was started is finished.
func revocationContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), revocationTimeout)
}
