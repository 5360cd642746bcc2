"""The web console and API against what an attacker tries: pages and endpoints of another role,
another site's records by id, forged forms, script in names, brute-force logins, open redirects,
and malformed input everywhere a request is parsed (hypothesis)."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from conftest import wb
from web_helpers import ROLES, console, csrf_of, log_in, password

# what each role may open: the statement of docs/web.md "Roles", written out independently of
# hub.access.roles
PAGES = {
    "/dashboard": {"admin", "sup", "lin", "sun"},
    "/dashboard/monitor/not-arrived": {"admin", "sup", "lin", "sun"},
    "/dead-letters": {"admin", "sup"},
    "/parcels": set(ROLES),
    "/orders": {"admin", "sup", "agent", "lin", "sun"},
    "/users": {"admin"},
    "/audit": {"admin"},
}
API = {
    "/api/v1/stations": {"admin", "sup", "lin", "sun"},
    "/api/v1/health": {"admin", "sup", "lin", "sun"},
    "/api/v1/monitor": {"admin", "sup", "lin", "sun"},
    "/api/v1/monitor/not-arrived": {"admin", "sup", "lin", "sun"},
    "/api/v1/orders": {"admin", "sup", "agent", "lin", "sun"},
    "/api/v1/accounts": {"admin", "sup", "lin", "sun"},
    "/api/v1/dead-letters": {"admin", "sup"},
}


@pytest.fixture
def app(tmp_path):
    return console(tmp_path)


@pytest.fixture
def both(app):
    a, tokens = app
    return a, tokens


def client(app, name=None) -> TestClient:
    c = TestClient(app)
    if name:
        r = log_in(c, name)
        assert r.status_code == 303, r.text
    return c


def test_pages_need_a_login_and_the_api_a_token(both):
    app, tokens = both
    c = client(app)
    for path in PAGES:
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    for path in API:
        r = c.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
    assert c.get("/dashboard/events").status_code == 403


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_role_opens_its_pages_only(both, name):
    app, tokens = both
    c = client(app, name)
    for path, who in PAGES.items():
        r = c.get(path)
        assert r.status_code == (200 if name in who else 403), (name, path, r.status_code)
        if name not in who:
            assert "may not open this page" in r.text
    h = {"Authorization": f"Bearer {tokens[name]}"}
    for path, who in API.items():
        r = c.get(path, headers=h)
        assert r.status_code == (200 if name in who else 403), (name, path, r.status_code, r.text)


def test_a_session_cookie_never_opens_the_api_and_a_token_never_opens_a_page(both):
    app, tokens = both
    c = client(app, "admin")
    assert c.get("/api/v1/stations").status_code == 401          # logged in, but no token
    anon = client(app)
    r = anon.get("/dashboard", headers={"Authorization": f"Bearer {tokens['admin']}"}, follow_redirects=False)
    assert r.status_code == 303


def test_site_staff_never_see_another_sites_records_by_id(both):
    app, tokens = both
    lin = client(app, "lin")                                       # site 100
    assert lin.get("/parcels", params={"waybill": wb(1)}).status_code == 200
    other = lin.get("/parcels", params={"waybill": wb(2)})          # site 200's parcel: as if unknown
    assert other.status_code == 404 and "concern site 100" in other.text and "2001" not in other.text
    assert lin.get("/dashboard/monitor/not-arrived", params={"site": "200"}).status_code == 403
    assert lin.get("/orders", params={"site": "200"}).status_code == 403
    dash = lin.get("/dashboard").text
    assert "st-100-1" in dash and "st-200-1" not in dash and "st-900-1" not in dash
    h = {"Authorization": f"Bearer {tokens['lin']}"}
    assert lin.get(f"/api/v1/track/{wb(2)}", headers=h).status_code == 404
    assert lin.get(f"/api/v1/track/{wb(1)}", headers=h).json()["waybill"] == wb(1)
    assert {s["site"] for s in lin.get("/api/v1/stations", headers=h).json()} == {"100"}
    assert lin.get("/api/v1/stations", params={"site": "200"}, headers=h).status_code == 403
    assert lin.get("/api/v1/monitor/not-arrived", params={"site": "200"}, headers=h).status_code == 403
    assert {a["site"] for a in lin.get("/api/v1/accounts", headers=h).json()} == {"100"}
    r = lin.post("/api/v1/orders/pickup", headers=h, json={"site": "200", "pairs": []})
    assert r.status_code == 403
    sup = client(app, "sup")                                       # the whole network
    assert sup.get("/parcels", params={"waybill": wb(2)}).status_code == 200


def test_forged_forms_are_refused_and_change_nothing(both):
    from hub.access import users
    app, _ = both
    admin = client(app, "admin")
    form = {"action": "add", "username": "mallory", "role": "admin", "password": "mallory-password-1"}
    for forged in ({}, {"csrf": ""}, {"csrf": "x" * 43}):
        r = admin.post("/users", data={**form, **forged})
        assert r.status_code == 403 and "not sent from this console" in r.text
    assert "mallory" not in [u["username"] for u in users.users()]
    # a token from another session is no good either
    other = client(app, "sup")
    r = admin.post("/users", data={**form, "csrf": csrf_of(other.get("/parcels").text)})
    assert r.status_code == 403
    # logout without the token does not log out; with it, it does
    assert admin.post("/logout", data={}).status_code == 403
    assert admin.get("/users").status_code == 200
    r = admin.post("/users", data={**form, "csrf": csrf_of(admin.get("/users").text)}, follow_redirects=False)
    assert r.status_code == 303 and "mallory" in [u["username"] for u in users.users()]
    # the login form carries one too
    anon = client(app)
    r = anon.post("/login", data={"username": "admin", "password": password("admin")}, follow_redirects=False)
    assert r.status_code == 403


def test_script_in_names_is_shown_as_text(both):
    from click.testing import CliRunner
    from cli import main
    from hub.access import users
    from hub.store.db import database
    app, _ = both
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    users.set_("lin", actor="test", display_name=evil)
    db = database.obj.database
    r = CliRunner().invoke(main, ["site", "set", "100", "--name", evil, "--db", db])
    assert r.exit_code == 0, r.output
    for c, path in ((client(app, "lin"), "/dashboard"), (client(app, "admin"), "/users"),
                    (client(app), f"/track?waybill={wb(1)}")):
        html = c.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(" in html or "&lt;img src=x" in html, path
    r = client(app).get("/track", params={"waybill": "<script>alert(1)</script>"})
    assert r.status_code == 400 and "<script>alert(1)" not in r.text


def test_every_response_has_the_security_headers_and_a_safe_cookie(tmp_path):
    from hub.web.app import create_app
    app, _ = console(tmp_path)
    secure = create_app(None)                    # the default: Secure cookies
    r = TestClient(secure, base_url="https://testserver").get("/login")
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "secure" in cookie.lower()
    r = TestClient(app).get("/track")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"


def test_a_brute_force_login_is_slowed_down_and_audited(tmp_path):
    from hub.access import audit
    from hub.web.security import Limits
    app, _ = console(tmp_path, limits=Limits(login_per_user="5/15 minutes", login_per_address="8/15 minutes"))
    c = client(app)
    for i in range(5):
        assert log_in(c, "admin", f"guess-{i}").status_code == 401
    r = log_in(c, "admin")                       # the right password, too late
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert log_in(c, "sup").status_code == 303   # another user from the same address still may
    for i in range(3):
        log_in(c, "nobody", f"guess-{i}")
    assert log_in(c, "agent").status_code == 429  # the address has used up its failures
    actions = [e["action"] for e in audit.entries(50)]
    assert actions.count("login.failed") == 8 and "login.blocked" in actions and "login" in actions


def test_unknown_and_disabled_users_and_old_sessions(both):
    from hub.access import users
    app, tokens = both
    c = client(app)
    assert log_in(c, "ghost", "whatever-password").status_code == 401
    agent = client(app, "agent")
    users.set_("agent", actor="test", active=False)
    assert agent.get("/parcels", follow_redirects=False).status_code == 303       # the session has ended
    assert log_in(client(app), "agent").status_code == 401
    h = {"Authorization": f"Bearer {tokens['agent']}"}
    assert agent.get("/api/v1/orders", headers=h).status_code == 401
    users.set_("agent", actor="test", active=True)
    assert agent.get("/api/v1/orders", headers=h).status_code == 200
    users.revoke_token("agent", "t", actor="test")
    assert agent.get("/api/v1/orders", headers=h).status_code == 401


def test_login_never_redirects_off_the_site(both):
    app, _ = both
    c = client(app)
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = c.get("/login", params={"next": evil})
        r = c.post("/login", data={"username": "sup", "password": password("sup"), "csrf": csrf_of(r.text),
                                   "next": evil}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard", evil
        c.post("/logout", data={"csrf": csrf_of(c.get("/parcels").text)})
    r = c.get("/login", params={"next": "/orders"})
    r = c.post("/login", data={"username": "sup", "password": password("sup"), "csrf": csrf_of(r.text),
                               "next": "/orders"}, follow_redirects=False)
    assert r.headers["location"] == "/orders"


def test_public_tracking_shows_no_staff_and_is_rate_limited(tmp_path):
    from hub.web.security import Limits
    app, _ = console(tmp_path, limits=Limits(track_per_address="4/minute"))
    c = client(app)
    r = c.get("/track", params={"waybill": wb(1)})
    assert r.status_code == 200
    text = r.text
    assert "Xihu Site" in text and "Hangzhou Center" in text and "in transit" in text
    for secret in ("1001", "1002", "Wang Fang", "Li Qiang", "st-100-1", "operator", "courier"):
        assert secret not in text, secret
    assert c.get("/track", params={"waybill": wb(99)}).status_code == 404
    c.get("/track", params={"waybill": wb(1)})
    c.get("/track", params={"waybill": wb(1)})
    r = c.get("/track", params={"waybill": wb(1)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert c.get("/track").status_code == 200               # the empty form is no look-up


def test_pickup_through_the_api_is_audited(both):
    from hub.access import audit
    app, tokens = both
    h = {"Authorization": f"Bearer {tokens['lin']}"}
    c = client(app)
    r = c.post("/api/v1/orders/pickup", headers=h, json={"site": "100", "pairs": [{"order_no": "NO-1", "waybill": wb(5)}]})
    assert r.status_code == 200 and r.json() == [{"order_no": "NO-1", "waybill": wb(5), "ok": False,
                                                  "reason": "unknown order"}]
    assert any(e["action"] == "orders.pickup" and e["actor"] == "lin" for e in audit.entries(10))
    assert c.post("/api/v1/orders/pickup", headers=h, content=b"{not json").status_code == 400
    assert c.post("/api/v1/orders/pickup", headers=h, json=[1, 2]).status_code == 400


# --- fuzzing what the console parses -------------------------------------------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@FUZZ
@given(value=text)
def test_fuzz_waybill_inputs_never_break_a_page_or_the_api(both, value):
    app, tokens = both
    c = client(app)
    r = c.get("/track", params={"waybill": value})
    assert r.status_code in (200, 400, 404), r.status_code
    assert "<script" not in r.text.lower().replace('<script src="/static/', "")
    from urllib.parse import quote
    r = c.get("/api/v1/track/" + quote(value, safe=""),
              headers={"Authorization": f"Bearer {tokens['sup']}"})
    assert r.status_code in (200, 400, 404), (value, r.status_code)
    assert "error" in r.json() or "events" in r.json()


@FUZZ
@given(since=st.one_of(st.none(), text), until=st.one_of(st.none(), text), limit=st.one_of(st.none(), text),
       report=st.sampled_from(["not-arrived", "delivered-unsigned", "nope", "", "../x"]))
def test_fuzz_query_parameters_give_results_or_a_clear_error(both, since, until, limit, report):
    app, tokens = both
    h = {"Authorization": f"Bearer {tokens['admin']}"}
    c = client(app)
    params = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
    for path in ("/api/v1/monitor", f"/api/v1/monitor/{report}"):
        r = c.get(path, params=params, headers=h)
        assert r.status_code in (200, 400, 404), (path, params, r.status_code)
        if r.status_code != 200:
            assert r.json()["error"]
    r = c.get("/api/v1/dead-letters", params={} if limit is None else {"limit": limit}, headers=h)
    assert r.status_code in (200, 400)


@FUZZ
@given(username=text, pw=text, csrf=st.one_of(st.none(), text), next_=text)
def test_fuzz_login_form(both, username, pw, csrf, next_):
    app, _ = both
    c = client(app)
    real = csrf_of(c.get("/login").text)
    data = {"username": username, "password": pw, "next": next_, "csrf": real if csrf is None else csrf}
    r = c.post("/login", data=data, follow_redirects=False)
    assert r.status_code in (401, 403, 429), r.status_code
    assert "<script" not in re.sub(r'<script src="/static/[^"]+"></script>', "", r.text).lower()


@FUZZ
@given(header=st.one_of(text, text.map(lambda t: "Bearer " + t), text.map(lambda t: "Bearer shk_" + t)))
def test_fuzz_authorization_headers(both, header):
    app, _ = both
    try:
        r = client(app).get("/api/v1/stations", headers={"Authorization": header})
    except Exception as e:                # httpx refuses to send some headers at all
        assert "header" in str(e).lower() or isinstance(e, (UnicodeEncodeError, ValueError)), e
        return
    assert r.status_code == 401


@FUZZ
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | text,
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                         max_leaves=12),
       pairs=st.lists(st.fixed_dictionaries({"order_no": text, "waybill": text}), max_size=4))
def test_fuzz_pickup_bodies(both, body, pairs):
    from hub.business import tables as bm
    app, tokens = both
    h = {"Authorization": f"Bearer {tokens['admin']}"}
    c = client(app)
    for b in (body, {"site": "100", "pairs": pairs}, {"site": "100", "pairs": body}):
        r = c.post("/api/v1/orders/pickup", headers=h, json=b)
        assert r.status_code in (200, 400), (b, r.status_code, r.text)
        assert isinstance(r.json(), list) or r.json()["error"]
    assert bm.PlatformOrder.select().where(bm.PlatformOrder.pickup == "ok").count() == 0


def test_an_admin_changes_a_role_on_the_users_page_and_it_takes_effect_at_once(both):
    from hub.access import audit
    app, tokens = both
    agent = client(app, "agent")
    assert agent.get("/dashboard").status_code == 403
    admin = client(app, "admin")
    r = admin.post("/users", data={"action": "set", "username": "agent", "role": "site", "site": "200",
                                   "csrf": csrf_of(admin.get("/users").text)}, follow_redirects=False)
    assert r.status_code == 303
    assert agent.get("/parcels", follow_redirects=False).status_code == 303        # the old session ended
    h = {"Authorization": f"Bearer {tokens['agent']}"}
    assert {s["site"] for s in agent.get("/api/v1/stations", headers=h).json()} == {"200"}   # the token follows
    e = audit.entries(1)[0]
    assert (e["actor"], e["action"], e["target"], e["detail"]) == ("admin", "user.set", "agent", "role=site site=200")
