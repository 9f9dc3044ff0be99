"""A flask-jwt-extended app for flask_interop_test.go.

Usage: /usr/bin/python3 testdata/flask/app.py <port> <variant>

variant "csrf": the non-default configuration of issue 13 (header name and
type, cookie names, paths, domain, SameSite, CSRF header, methods and form
field, two HS secrets with kids); "nocsrf": the same with
JWT_COOKIE_CSRF_PROTECT=False. The Caddyfile of the test says the same in
the jwt global option. Secrets come from the environment (FLASK_SECRET_NEW,
FLASK_SECRET_OLD) so that the test holds them in one place.
"""
import os
import sys

from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
)

port, variant = int(sys.argv[1]), sys.argv[2]

# kid -> secret; "k2" (the new one) signs unless a login asks for another
SECRETS = {"k2": os.environ["FLASK_SECRET_NEW"], "k1": os.environ["FLASK_SECRET_OLD"]}

app = Flask(__name__)
app.config.update(
    JWT_SECRET_KEY=SECRETS["k2"],  # unused: the key loaders below pick by kid
    JWT_TOKEN_LOCATION=["headers", "cookies"],
    JWT_HEADER_NAME="X-Auth",
    JWT_HEADER_TYPE="Token",
    JWT_ACCESS_COOKIE_NAME="acc",
    JWT_REFRESH_COOKIE_NAME="ref",
    JWT_ACCESS_COOKIE_PATH="/api",
    JWT_REFRESH_COOKIE_PATH="/auth",
    JWT_ACCESS_CSRF_COOKIE_NAME="xsrf_acc",
    JWT_REFRESH_CSRF_COOKIE_NAME="xsrf_ref",
    JWT_COOKIE_DOMAIN="app.example.test",
    JWT_COOKIE_SAMESITE="Strict",
    JWT_COOKIE_SECURE=False,
    JWT_ACCESS_CSRF_HEADER_NAME="X-XSRF",
    JWT_CSRF_METHODS=["POST", "DELETE"],
    JWT_CSRF_CHECK_FORM=True,
    JWT_ACCESS_CSRF_FIELD_NAME="_csrf",
    JWT_COOKIE_CSRF_PROTECT=(variant == "csrf"),
)
if variant not in ("csrf", "nocsrf"):
    sys.exit("unknown variant " + variant)

jwt = JWTManager(app)


@jwt.decode_key_loader
def decode_key(jwt_header, jwt_data):
    # the secret named by the token's kid; without a kid, the signing one
    # (flask has no "try each secret": such a token of k1 is refused)
    return SECRETS.get(jwt_header.get("kid", "k2"), "")


@jwt.encode_key_loader
def encode_key(identity):
    return SECRETS[request.args.get("kid", "k2")]


def _tokens(identity, fresh):
    kid = request.args.get("kid", "k2")
    access = create_access_token(identity, fresh=fresh, additional_headers={"kid": kid})
    refresh = create_refresh_token(identity, additional_headers={"kid": kid})
    return access, refresh


@app.post("/auth/login")
def login():
    # the test's login: no password check, the identity is the username
    access, refresh = _tokens(request.form.get("username", "alice"), True)
    resp = jsonify(access_token=access, refresh_token=refresh)
    set_access_cookies(resp, access)
    set_refresh_cookies(resp, refresh)
    return resp


@app.post("/auth/refresh")
@jwt_required(refresh=True)
def refresh():
    access = create_access_token(get_jwt_identity(), fresh=False, additional_headers={"kid": "k2"})
    resp = jsonify(access_token=access)
    set_access_cookies(resp, access)
    return resp


# The same answers as the test's Caddy routes: "hello <identity> <method>".
@app.route("/api/me", methods=["GET", "POST", "PUT", "DELETE"])
@jwt_required()
def me():
    return "hello %s %s" % (get_jwt_identity(), request.method)


@app.route("/api/fresh", methods=["GET", "POST"])
@jwt_required(fresh=True)
def fresh():
    return "hello %s %s" % (get_jwt_identity(), request.method)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=port, use_reloader=False, threaded=True)
