"""Shared by the web console's tests: a sample store with a user of every role and their API
tokens, a console over it, and logging in as a browser does (the login form's CSRF token)."""
from __future__ import annotations

import re

from conftest import sample_store, wb

ROLES = {"admin": ("admin", None), "sup": ("supervisor", None), "agent": ("agent", None), "qa": ("qa", None),
         "lin": ("site", "100"), "sun": ("site", "200")}
T = 1_800_000_000_000


def password(name: str) -> str:
    return f"pass-{name}-0123456789"


def make_users() -> dict[str, str]:
    """Every role's user; returns ``{username: API token}``."""
    from hub.access import users
    out = {}
    for name, (role, site) in ROLES.items():
        users.add(name, role, password(name), site=site, display_name=f"{name} user", actor="test")
        out[name] = users.issue_token(name, "t", actor="test")
    return out


def scan(i: int, kind: str, waybill: str, site: str, station: str, t: int, **kw) -> dict:
    s = {"id": f"{station}-{i}", "station": station, "epoch": "e", "seq": i, "kind": kind, "waybill": waybill,
         "site": site, "operator": "1002", "edge_ms": t, "event_ms": t, "clock": "trusted"}
    s.update(kw)
    return s


def commit_two_parcels() -> tuple[str, str]:
    """``wb(1)`` received at site 100 and sent to center 900; ``wb(2)`` received at site 200.
    Committed and derived by the hub's own ingest commit."""
    from hub.ingest.pipeline import commit
    a, b = wb(1), wb(2)
    committed, rejected = commit([
        scan(1, "receive", a, "100", "st-100-1", T, courier="1001"),
        scan(2, "dispatch", a, "100", "st-100-1", T + 60_000, next_site="900"),
        scan(1, "receive", b, "200", "st-200-1", T, courier="2001"),
    ])
    assert not rejected, rejected
    return a, b


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def log_in(client, name: str, pw: str | None = None):
    r = client.get("/login")
    return client.post("/login", data={"username": name, "password": pw or password(name), "csrf": csrf_of(r.text),
                                       "next": ""}, follow_redirects=False)


def console(tmp_path, **kw):
    """A store with the sample network, every role's user and two parcels; returns (app, tokens)."""
    from hub.web.app import create_app
    from hub.web.security import Limits
    path = sample_store(str(tmp_path / "hub.db"))
    tokens = make_users()
    commit_two_parcels()
    kw.setdefault("limits", Limits(login_per_address="1000/15 minutes", track_per_address="1000/minute"))
    kw.setdefault("command_wait_s", 0.3)          # no PBX runs here: a request is not carried out
    return create_app(path, secure_cookies=False, **kw), tokens
