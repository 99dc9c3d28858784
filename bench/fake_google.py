"""A stand-in for Google's side of the Indexing API, on a loopback port: the OAuth 2.0 token endpoint
and the publish endpoint, checking what the real ones check.

- ``POST /token``: the JWT bearer grant. The assertion's RS256 signature is verified against the
  public half of the key the service account was made with (PyJWT, not google-auth: the checker is
  not the code under test), and so are its issuer, audience (Google's token address, as Google
  checks it), scope and times.
  A good assertion gets an access token valid for ``token_seconds``.
- ``POST /v3/urlNotifications:publish``: needs ``Authorization: Bearer <a token it issued>`` and a
  JSON body of exactly ``url`` (absolute http/https) and ``type`` (URL_UPDATED or URL_DELETED); it
  answers as Google does, or what the test set (``answer``), or holds the call while ``hold`` is set.

``service_account_file`` writes a key file like the one Google's console makes, with a fresh key.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SCOPE = "https://www.googleapis.com/auth/indexing"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"  # what Google checks ``aud`` against, whatever token_uri is
PUBLISH_PATH = "/v3/urlNotifications:publish"
EMAIL = "syndicate-indexing@jobs-example.iam.gserviceaccount.com"


@dataclass
class Account:
    """A service account the fake knows: its key file's JSON and the public key that checks it."""

    info: dict[str, Any]
    public_pem: bytes

    @property
    def private_key(self) -> str:
        return str(self.info["private_key"])


def new_account(token_uri: str, email: str = EMAIL) -> Account:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = {
        "type": "service_account",
        "project_id": "jobs-example",
        "private_key_id": secrets.token_hex(20),
        "private_key": private.decode(),
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    return Account(info, public)


class FakeGoogle(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token_seconds: int = 3600) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.accounts: dict[str, Account] = {}  # by client_email
        self.token_seconds = token_seconds
        self.tokens: dict[str, float] = {}  # issued token: monotonic expiry
        self.token_requests: list[dict[str, Any]] = []  # every token request: its claims or its error
        self.calls: list[dict[str, Any]] = []  # every accepted publish call: body, headers, arrival
        self.refused: list[str] = []  # publish calls refused for a bad token or body, and why
        self.answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any]] | None] = lambda _body: None
        self.token_answer: Callable[[], tuple[int, bytes] | None] = lambda: None  # (status, raw body) instead
        self.hold = threading.Event()  # set: publish calls wait until it is cleared
        self.holding = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"

    @property
    def endpoint(self) -> str:
        return f"{self.base}{PUBLISH_PATH}"

    def account(self, email: str = EMAIL) -> Account:
        made = new_account(self.token_uri, email)
        with self.lock:
            self.accounts[email] = made
        return made

    def notified(self) -> list[tuple[str, str]]:
        """(type, url) of every accepted call, in arrival order."""
        with self.lock:
            return [(c["body"]["type"], c["body"]["url"]) for c in self.calls]

    def start(self) -> FakeGoogle:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.hold.clear()
        self.shutdown()
        self.server_close()


def service_account_file(path: Path, account: Account) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(account.info, indent=2), encoding="utf-8")
    return path


class _Handler(BaseHTTPRequestHandler):
    server: FakeGoogle

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        if path == "/token":
            self._token(raw)
        elif path == PUBLISH_PATH:
            self._publish(raw)
        else:
            self._json(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})

    def _token(self, raw: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        fake = self.server
        instead = fake.token_answer()
        if instead is not None:
            with fake.lock:
                fake.token_requests.append({"answered": instead[0]})
            self._raw(*instead)
            return
        try:
            if form.get("grant_type") != GRANT:
                raise ValueError(f"grant_type is {form.get('grant_type')!r}")
            unverified = jwt.decode(form["assertion"], options={"verify_signature": False})
            account = fake.accounts.get(unverified.get("iss", ""))
            if account is None:
                raise ValueError("unknown issuer")
            claims = jwt.decode(
                form["assertion"],
                account.public_pem,
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=account.info["client_email"],
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
            if claims.get("scope") != SCOPE:
                raise ValueError(f"scope is {claims.get('scope')!r}")
        except (ValueError, KeyError, jwt.PyJWTError) as exc:
            with fake.lock:
                fake.token_requests.append({"error": str(exc)})
            self._json(400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"})
            return
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with fake.lock:
            fake.tokens[token] = time.monotonic() + fake.token_seconds
            fake.token_requests.append({"claims": claims})
        self._json(200, {"access_token": token, "expires_in": fake.token_seconds, "token_type": "Bearer"})

    def _publish(self, raw: bytes) -> None:
        fake = self.server
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with fake.lock:
            valid = fake.tokens.get(bearer, 0) > time.monotonic()
        if not valid:
            with fake.lock:
                fake.refused.append("token")
            self._json(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
            )
            return
        try:
            body = json.loads(raw)
            ok = (
                set(body) == {"url", "type"}
                and body["type"] in ("URL_UPDATED", "URL_DELETED")
                and urlsplit(body["url"]).scheme in ("http", "https")
                and self.headers.get("Content-Type", "").startswith("application/json")
            )
        except ValueError:
            ok = False
        if not ok:
            with fake.lock:
                fake.refused.append(f"body {raw[:200]!r}")
            self._json(
                400, {"error": {"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}}
            )
            return
        with fake.lock:
            fake.holding += 1
        try:
            while fake.hold.is_set():
                time.sleep(0.01)
        finally:
            with fake.lock:
                fake.holding -= 1
        answer = fake.answer(body)
        with fake.lock:
            fake.calls.append({"body": body, "headers": dict(self.headers), "at": time.monotonic(), "answered": answer})
        if answer is not None:
            self._json(*answer)
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        latest = {"url": body["url"], "type": body["type"], "notifyTime": now}
        key = "latestUpdate" if body["type"] == "URL_UPDATED" else "latestRemove"
        self._json(200, {"urlNotificationMetadata": {"url": body["url"], key: latest}})

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._raw(status, json.dumps(document).encode())

    def _raw(self, status: int, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the caller gave up (its deadline)

    def log_message(self, *args: object) -> None:
        pass


def google_toml(name: str, fake: FakeGoogle, **keys: Any) -> str:
    """A google-indexing board entry on ``fake`` (``credentials_file`` and the rest from ``keys``)."""
    lines = ["[[boards]]", f'name = "{name}"', 'kind = "google-indexing"', f'endpoint = "{fake.endpoint}"']
    for key, value in keys.items():
        lines.append(f"{key} = {json.dumps(value)}" if not isinstance(value, int) else f"{key} = {value}")
    return "\n".join(lines) + "\n"
