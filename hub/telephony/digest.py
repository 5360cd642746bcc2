"""HTTP digest authentication as SIP uses it (RFC 3261 §22, RFC 2617 with qop=auth, MD5).

The server side: :class:`Challenger` issues nonces (``challenge()`` → the ``WWW-Authenticate``
or ``Proxy-Authenticate`` value) and checks an ``Authorization`` header against a password
(``verify``).  Nonces are HMACs of their issue time, so no table of them is kept; a nonce older
than ``max_age_s`` is refused as stale (the client then retries with the new one).  The client
side (outbound trunks with credentials): :func:`authorization`.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from hub.telephony.sipmsg import split_list


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def parse_params(value: str) -> dict[str, str]:
    """``Digest k=v, k="v"`` -> {k: v}; {} when it is not a digest header."""
    scheme, _, rest = (value or "").strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    out = {}
    for item in split_list(rest):
        k, eq, v = item.partition("=")
        if eq:
            out[k.strip().lower()] = v.strip().strip('"')
    return out


def response_hash(username: str, realm: str, password: str, method: str, uri: str, nonce: str,
                  qop: str = "", nc: str = "", cnonce: str = "") -> str:
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


class Challenger:
    def __init__(self, realm: str, max_age_s: int = 300, secret: bytes | None = None) -> None:
        self.realm = realm
        self.max_age_s = max_age_s
        self._secret = secret or secrets.token_bytes(16)

    def _nonce_at(self, t: int) -> str:
        mac = hmac.new(self._secret, str(t).encode(), hashlib.sha256).hexdigest()[:24]
        return f"{t:x}{mac}"

    def challenge(self, stale: bool = False) -> str:
        nonce = self._nonce_at(int(time.time()))
        return (f'Digest realm="{self.realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'
                + (", stale=true" if stale else ""))

    def _fresh(self, nonce: str) -> bool | None:
        """True fresh, False stale, None forged."""
        if len(nonce) <= 24:
            return None
        try:
            t = int(nonce[:-24], 16)
        except ValueError:
            return None
        if not hmac.compare_digest(self._nonce_at(t), nonce):
            return None
        return time.time() - t <= self.max_age_s

    def verify(self, header: str | None, method: str, password_of) -> tuple[str | None, bool]:
        """(username when the credentials are right, stale?).  ``password_of(user)`` gives the
        password or None for an unknown user."""
        p = parse_params(header or "")
        user, nonce, resp = p.get("username"), p.get("nonce", ""), p.get("response", "")
        if not user or not resp or p.get("realm") != self.realm:
            return None, False
        fresh = self._fresh(nonce)
        if fresh is None:
            return None, False
        password = password_of(user)
        if password is None:
            return None, False
        want = response_hash(user, self.realm, password, method, p.get("uri", ""), nonce,
                             p.get("qop", ""), p.get("nc", ""), p.get("cnonce", ""))
        if not hmac.compare_digest(want, resp.lower()):
            return None, False
        if not fresh:
            return None, True
        return user, False


def authorization(challenge: str, username: str, password: str, method: str, uri: str) -> str:
    """The ``Authorization`` value answering ``challenge`` (client side)."""
    p = parse_params(challenge)
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    qop = "auth" if "auth" in [q.strip() for q in p.get("qop", "").split(",")] else ""
    cnonce, nc = secrets.token_hex(8), "00000001"
    resp = response_hash(username, realm, password, method, uri, nonce, qop, nc, cnonce)
    out = f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{resp}", algorithm=MD5'
    if qop:
        out += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
    if "opaque" in p:
        out += f', opaque="{p["opaque"]}"'
    return out
