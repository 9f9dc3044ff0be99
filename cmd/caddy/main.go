// Command caddy is Caddy with its standard modules plus caddy-jwt-extended,
// so that `go run ./cmd/caddy run --config Caddyfile.example` works on a
// fresh clone. Production builds use xcaddy:
//
//	xcaddy build --with github.com/caddy-jwt-extended/caddy-jwt-extended
package main

import (
	_ "github.com/caddy-jwt-extended/caddy-jwt-extended"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
