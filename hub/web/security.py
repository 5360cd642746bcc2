"""Who is asking: the session's user (cookie) or the API token's (``Authorization: Bearer``),
the CSRF token every form carries, the rate limits on logins and public look-ups, and the
headers every response gets.

A session cookie never authenticates an API call and a token never opens a page, so a page in
another origin cannot make the browser call the API with the user's cookie.
"""
from __future__ import annotations

import hmac
import secrets

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from hub.access import users
from hub.access.tables import WebUser
from hub.store.meta import get_meta, set_meta

SECRET_KEY = "web_session_secret"

#: Content-Security-Policy: scripts and styles only from this server (htmx is served from
#: /static), no framing, forms only to this server.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def session_secret() -> str:
    """The key the session cookies are signed with, made once and kept in the store (every web
    worker on the same store signs alike; rotating it logs everyone out)."""
    secret = get_meta(SECRET_KEY)
    if not secret:
        set_meta(SECRET_KEY, secrets.token_urlsafe(48))
        secret = get_meta(SECRET_KEY)
    return secret


def address(request: Request) -> str:
    """The client's address (behind a reverse proxy: what ``--forwarded-allow-ips`` lets
    uvicorn take from ``X-Forwarded-For``)."""
    return request.client.host if request.client else ""


def session_user(request: Request) -> WebUser | None:
    s = request.session
    return users.current(s.get("uid"), s.get("ver"))


def log_in(request: Request, user: WebUser) -> None:
    request.session.clear()                     # a new session: no fixation of an old one
    request.session.update({"uid": user.id, "ver": user.session_version, "csrf": secrets.token_urlsafe(32)})


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent) -> bool:
    want = request.session.get("csrf")
    return isinstance(want, str) and isinstance(sent, str) and hmac.compare_digest(want.encode(), sent.encode())


def bearer_user(request: Request) -> WebUser | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return users.user_for_token(token.strip())


class Limits:
    """Moving-window limits kept in this process (the limits library): failed logins per user
    name and per address, public tracking look-ups and new chats per address."""

    def __init__(self, login_per_user: str = "5/15 minutes", login_per_address: str = "30/15 minutes",
                 track_per_address: str = "30/minute", chat_per_address: str = "5/10 minutes"):
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.login_user, self.login_addr = parse(login_per_user), parse(login_per_address)
        self.track = parse(track_per_address)
        self.chat = parse(chat_per_address)

    def _wait(self, item, *keys) -> int:
        if self.limiter.test(item, *keys):
            return 0
        reset = self.limiter.get_window_stats(item, *keys).reset_time
        import time
        return max(1, int(reset - time.time()) + 1)

    def login_blocked(self, username: str, addr: str) -> int:
        """Seconds until a login may be tried again (0: now)."""
        return max(self._wait(self.login_user, "login-user", username.lower()),
                   self._wait(self.login_addr, "login-addr", addr))

    def login_failed(self, username: str, addr: str) -> None:
        self.limiter.hit(self.login_user, "login-user", username.lower())
        self.limiter.hit(self.login_addr, "login-addr", addr)

    def chat_start(self, addr: str) -> int:
        """Count a new public chat; seconds to wait when over the limit (0: go ahead)."""
        if self.limiter.hit(self.chat, "chat", addr):
            return 0
        return self._wait(self.chat, "chat", addr)

    def track_lookup(self, addr: str) -> int:
        """Count a public look-up; seconds to wait when over the limit (0: go ahead)."""
        if self.limiter.hit(self.track, "track", addr):
            return 0
        return self._wait(self.track, "track", addr)
