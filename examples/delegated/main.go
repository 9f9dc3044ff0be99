// Command delegated is the app of the README's "The app owns its users"
// example: it keeps the users and checks passwords; Caddy's jwt_issue mints
// the tokens, and jwt_auth hands it the verified identity.
//
//	go run ./examples/delegated -listen 127.0.0.1:9000
package main

import (
	"crypto/subtle"
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

// users stands for the app's user store: keep password hashes there
// (bcrypt, argon2id), never plain passwords.
var users = map[string]struct{ password, role string }{
	"alice": {"wonderland", "admin"},
}

// checkCredentials answers jwt_issue's delegated login and reauth: 200
// with X-Jwt-Issue-Identity (and the user's claims) when the password is
// right, 401 otherwise. The body is the one the client sent.
func checkCredentials(w http.ResponseWriter, r *http.Request) {
	// Only jwt_issue's vetted POST carries X-Jwt-Issue-Route: no client
	// can send an X-Jwt-* header through Caddy, so a call without it did
	// not come from jwt_issue and gets no answer about a password.
	if r.Header.Get("X-Jwt-Issue-Route") == "" {
		http.NotFound(w, r)
		return
	}
	var c struct{ Username, Password string }
	_ = json.NewDecoder(r.Body).Decode(&c)
	u, ok := users[c.Username]
	if !ok || subtle.ConstantTimeCompare([]byte(u.password), []byte(c.Password)) != 1 {
		http.Error(w, `{"msg":"Bad username or password"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("X-Jwt-Issue-Identity", c.Username)
	w.Header().Set("X-Jwt-Issue-Claims", `{"role":"`+u.role+`"}`)
}

// api is every other route: jwt_auth has checked the token already.
func api(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte("hello " + r.Header.Get("X-Jwt-Identity") + ", fresh: " + r.Header.Get("X-Jwt-Fresh") + "\n"))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	http.HandleFunc("POST /auth/login", checkCredentials)
	http.HandleFunc("POST /auth/reauth", checkCredentials)
	http.HandleFunc("/", api)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
