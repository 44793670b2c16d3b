"""Console sessions: a signed cookie naming who signed in and until when, and the CSRF token
every form carries.

The cookie holds who signed in (`key:<access key id>`, never the secret, or `user:<account>:<name>`
for a password sign-in), the expiry and a random session id, signed with HMAC-SHA256 under a key made when the server starts: a restart
signs everyone out, and nothing about a session is stored. The identity is looked up again on
every request, so a key deactivated or deleted (a login profile deleted) ends its sessions at once.
Signing out revokes the session: its id is remembered until it would have expired (in memory: a
restart signs everyone out anyway). The CSRF token is an
HMAC of the session id under the same key: a page of another site cannot read it, so it cannot
forge a form that passes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

__all__ = ["COOKIE", "Session", "SessionSigner"]

COOKIE = "lamina_console"
SESSION_S = 12 * 3600
MAX_COOKIE_BYTES = 1024


@dataclass(frozen=True)
class Session:
    subject: str  # key:<access key id> | user:<account>:<user name>
    session_id: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, key: bytes | None = None, lifetime_s: float = SESSION_S) -> None:
        self._key = key or secrets.token_bytes(32)
        self._lifetime_s = lifetime_s
        self._revoked: dict[str, float] = {}  # session id → when it would have expired

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def issue(self, subject: str, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(subject, secrets.token_urlsafe(16), (now or time.time()) + self._lifetime_s)
        payload = json.dumps([session.subject, session.session_id, session.expires]).encode()
        return session, f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session a cookie value carries; None when absent, forged, malformed or expired."""
        if not value or len(value) > MAX_COOKIE_BYTES or value.count(".") != 1:
            return None
        encoded, signature = value.split(".")
        try:
            payload, mac = _unb64(encoded), _unb64(signature)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            subject, session_id, expires = json.loads(payload)
        except (ValueError, TypeError):
            return None
        if not isinstance(expires, int | float) or expires < (now or time.time()):
            return None
        if str(session_id) in self._revoked:
            return None
        return Session(str(subject), str(session_id), float(expires))

    def revoke(self, session: Session, now: float | None = None) -> None:
        """Sign out: the session's cookie no longer works, even replayed."""
        moment = now or time.time()
        for session_id, expires in list(self._revoked.items()):
            if expires < moment:
                del self._revoked[session_id]
        self._revoked[session.session_id] = session.expires

    def csrf_token(self, session: Session) -> str:
        return _b64(self._mac(b"csrf:" + session.session_id.encode()))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf_token(session).encode())
