"""Console users and API tokens: the write path (add, set, remove, issue, revoke) and the checks
the web layer calls (``authenticate``, ``user_for_token``, ``current``).

Passwords are hashed with argon2id (argon2-cffi, its default parameters); a login with an
unknown name still spends one verification, so the time taken does not tell which names exist.
Tokens are 256 random bits; only their SHA-256 is stored.  Every change is written to the audit
log with its actor.
"""
from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contract.clock import now_ms
from hub.access import audit
from hub.access.roles import ROLES
from hub.access.tables import ApiToken, WebUser
from hub.errors import HubError
from hub.network.tables import Site
from hub.store.db import database

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOKEN_PREFIX = "shk_"

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password anyone has")


class AccessError(HubError, ValueError):
    """A user or token request that cannot be done (bad name, unknown user, weak password …)."""


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccessError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccessError(f"a password has at most {MAX_PASSWORD} characters")


def _check_role_site(role: str, site: str | None) -> str | None:
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    if role == "site":
        if not site:
            raise AccessError("a site-staff user needs --site")
        if Site.get_or_none(Site.code == site) is None:
            raise AccessError(f"unknown site {site}")
        return site
    if site:
        raise AccessError(f"only site-staff users belong to a site (role {role} sees the whole network)")
    return None


def _user(username: str) -> WebUser:
    u = WebUser.get_or_none(WebUser.username == username)
    if u is None:
        raise AccessError(f"no user {username!r}")
    return u


def row(u: WebUser) -> dict:
    return {"username": u.username, "display_name": u.display_name, "role": u.role, "site": u.site,
            "active": bool(u.active), "created_ms": u.created_ms,
            "tokens": ApiToken.select().where(ApiToken.user == u).count()}


def add(username: str, role: str, password: str, *, site: str | None = None, display_name: str = "",
        actor: str, address: str = "") -> dict:
    if not isinstance(username, str) or not USERNAME.match(username):
        raise AccessError("a user name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    site = _check_role_site(role, site)
    _check_password(password)
    with database.atomic():
        if WebUser.get_or_none(WebUser.username == username) is not None:
            raise AccessError(f"user {username!r} exists (change it with `scanhub web user set`)")
        u = WebUser.create(username=username, display_name=(display_name or "")[:200], role=role, site=site,
                           password_hash=_hasher.hash(password), created_ms=now_ms())
        audit.record(actor, "user.add", username, f"role={role}" + (f" site={site}" if site else ""), address)
    return row(u)


def users() -> list[dict]:
    return [row(u) for u in WebUser.select().order_by(WebUser.username)]


def set_(username: str, *, actor: str, role: str | None = None, site: str | None = None,
         password: str | None = None, display_name: str | None = None, active: bool | None = None,
         address: str = "") -> dict:
    """Change what is given; a new password, role, site or disabling ends the user's sessions.
    Tokens act with the user's current role and site, and are refused while the user is disabled."""
    with database.atomic():
        u = _user(username)
        new_role = role or u.role
        new_site = site if site is not None else (u.site if new_role == "site" else None)
        new_site = _check_role_site(new_role, new_site or None)
        changes, ends_sessions = [], False
        if new_role != u.role or new_site != u.site:
            changes.append(f"role={new_role}" + (f" site={new_site}" if new_site else ""))
            u.role, u.site, ends_sessions = new_role, new_site, True
        if password is not None:
            _check_password(password)
            u.password_hash = _hasher.hash(password)
            changes.append("password")
            ends_sessions = True
        if display_name is not None:
            u.display_name = display_name[:200]
            changes.append("display name")
        if active is not None and active != bool(u.active):
            u.active = active
            changes.append("enabled" if active else "disabled")
            ends_sessions = True
        if not changes:
            raise AccessError("nothing to change: give --role, --site, --password, --name, --enable or --disable")
        if ends_sessions:
            u.session_version += 1
        u.save()
        audit.record(actor, "user.set", username, ", ".join(changes), address)
    return row(u)


def remove(username: str, *, actor: str, address: str = "") -> None:
    with database.atomic():
        u = _user(username)
        ApiToken.delete().where(ApiToken.user == u).execute()
        u.delete_instance()
        audit.record(actor, "user.remove", username, "", address)


def authenticate(username: str, password: str) -> WebUser | None:
    """The active user with this name and password, or None (the same time either way)."""
    u = WebUser.get_or_none(WebUser.username == username) if isinstance(username, str) and len(username) <= 64 else None
    try:
        if u is None or not u.active:
            _hasher.verify(_DUMMY, password if isinstance(password, str) else "")
            return None
        _hasher.verify(u.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(u.password_hash):
        WebUser.update(password_hash=_hasher.hash(password)).where(WebUser.id == u.id).execute()
    return u


def current(user_id, version) -> WebUser | None:
    """The user a session names, while the session is still valid (same version, active)."""
    if type(user_id) is not int or type(version) is not int:
        return None
    u = WebUser.get_or_none(WebUser.id == user_id)
    if u is None or not u.active or u.session_version != version:
        return None
    return u


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(username: str, name: str, *, actor: str, address: str = "") -> str:
    """A new API token for ``username`` (returned once; only its hash is kept)."""
    if not isinstance(name, str) or not TOKEN_NAME.match(name):
        raise AccessError("a token name is 1-64 letters, digits, '.', '_' or '-'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with database.atomic():
        u = _user(username)
        if ApiToken.get_or_none(ApiToken.user == u, ApiToken.name == name) is not None:
            raise AccessError(f"user {username!r} already has a token named {name!r} (revoke it first)")
        ApiToken.create(user=u, name=name, digest=_digest(token), prefix=token[:12], created_ms=now_ms())
        audit.record(actor, "token.add", username, name, address)
    return token


def tokens(username: str | None = None) -> list[dict]:
    q = ApiToken.select(ApiToken, WebUser).join(WebUser).order_by(WebUser.username, ApiToken.name)
    if username:
        q = q.where(WebUser.username == username)
    return [{"username": t.user.username, "name": t.name, "prefix": t.prefix, "created_ms": t.created_ms,
             "last_used_ms": t.last_used_ms} for t in q]


def revoke_token(username: str, name: str, *, actor: str, address: str = "") -> None:
    with database.atomic():
        u = _user(username)
        n = ApiToken.delete().where(ApiToken.user == u, ApiToken.name == name).execute()
        if not n:
            raise AccessError(f"user {username!r} has no token named {name!r}")
        audit.record(actor, "token.revoke", username, name, address)


def user_for_token(token: str) -> WebUser | None:
    """The active user an API token acts as, or None; records when the token was last used."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    t = ApiToken.get_or_none(ApiToken.digest == _digest(token))
    if t is None:
        return None
    u = t.user
    if not u.active:
        return None
    ApiToken.update(last_used_ms=now_ms()).where(ApiToken.id == t.id).execute()
    return u
