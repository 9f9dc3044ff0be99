// Package testkit is the test harness shared by the root package's tests and
// the tests of the internal packages: free loopback ports and the global
// options of in-process Caddy tests, a manual clock, an independent token
// minter, cached bcrypt hashes and a private Caddy storage folder.
//
// It must not import the root package nor any other internal package of
// this module (their tests import it), and its minter uses only the
// standard library's crypto, never the module's code, so that a bug in the
// module's own minting or parsing cannot hide a bug in its verification.
//
// Starting an in-process Caddy (caddykit.Start) lives in the subpackage
// caddykit, so that unit tests of the internal packages do not link Caddy's
// standard modules.
package testkit
