"""The web console's library side and its commands: users, tokens and the audit log through
`scanhub web`, the dashboard's data and live fragments, the OpenAPI description, the public view
of a parcel, and the query functions the console added (monitoring counts, sign-rate trend)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cli import main
from conftest import wb
from web_helpers import T, commit_two_parcels, console, log_in, scan


def run(*args, input=None, ok=True):
    r = CliRunner().invoke(main, list(args), input=input)
    if ok:
        assert r.exit_code == 0, r.output
    return r


def test_web_user_and_token_commands(hub_store):
    db = ["--db", hub_store]
    out = json.loads(run("web", "user", "add", "chen", "--role", "supervisor", "--name", "陈杰", "--password-stdin",
                         "--json", *db, input="a long enough password\n").output)
    assert out["role"] == "supervisor" and out["display_name"] == "陈杰"
    run("web", "user", "add", "lin", "--role", "site", "--site", "100", "--password-stdin", *db,
        input="another long password\n")
    for args, message in (
            (["add", "x", "--role", "site"], "needs --site"),
            (["add", "x", "--role", "site", "--site", "999"], "unknown site 999"),
            (["add", "x", "--role", "boss"], "unknown role 'boss'"),
            (["add", "x", "--role", "agent", "--site", "100"], "only site-staff users belong to a site"),
            (["add", "chen", "--role", "agent"], "exists"),
            (["add", "bad name", "--role", "agent"], "a user name is"),
            (["set", "ghost", "--disable"], "no user 'ghost'"),
            (["set", "chen"], "nothing to change")):
        pw = ["--password-stdin"] if args[0] == "add" else []
        r = run("web", "user", *args, *pw, *db, input="a long enough password\n", ok=False)
        assert r.exit_code == 1 and message in r.output, (args, r.output)
    r = run("web", "user", "add", "y", "--role", "agent", "--password-stdin", *db, input="short\n", ok=False)
    assert r.exit_code == 1 and "at least 10 characters" in r.output
    r = run("web", "user", "add", "y", "--role", "agent", *db, input="", ok=False)
    assert r.exit_code == 2 and "--password-stdin" in r.output           # no terminal to ask on
    rows = json.loads(run("web", "user", "list", "--json", *db).output)
    assert [(u["username"], u["role"], u["site"]) for u in rows] == [("chen", "supervisor", None), ("lin", "site", "100")]
    assert "password" not in json.dumps(rows)
    assert "chen" in run("web", "user", "list", "--format", "csv", *db).output

    token = run("web", "token", "add", "chen", "--name", "erp", *db).output.strip()
    assert token.startswith("shk_") and len(token) > 40
    r = run("web", "token", "add", "chen", "--name", "erp", *db, ok=False)
    assert r.exit_code == 1 and "already has a token named 'erp'" in r.output
    listed = json.loads(run("web", "token", "list", "--json", *db).output)
    assert listed[0]["prefix"] == token[:12] and token not in json.dumps(listed)
    run("web", "user", "set", "lin", "--role", "agent", "--disable", *db)
    assert json.loads(run("web", "user", "list", "--json", *db).output)[1] == {
        **rows[1], "role": "agent", "site": None, "active": False}
    run("web", "token", "revoke", "chen", "erp", *db)
    run("web", "user", "remove", "lin", *db)
    audit = json.loads(run("web", "audit", "--json", *db).output)
    assert [e["action"] for e in audit] == ["user.remove", "token.revoke", "user.set", "token.add", "user.add", "user.add"]
    assert all(e["actor"].startswith("cli") for e in audit)


def test_a_new_password_ends_the_old_sessions(tmp_path):
    from hub.access import users
    app, _ = console(tmp_path)
    c = TestClient(app)
    assert log_in(c, "sup").status_code == 303
    assert c.get("/parcels").status_code == 200
    users.set_("sup", actor="test", password="a brand new password")
    assert c.get("/parcels", follow_redirects=False).status_code == 303
    assert log_in(c, "sup", "a brand new password").status_code == 303


def test_dashboard_data_and_live_fragments(tmp_path):
    from hub.web.live import PARTS, render_parts
    from hub.web.pages import dashboard_data
    console(tmp_path)
    everything = dashboard_data(None, True)
    assert everything["grid"] == {("900", "not-arrived"): 1, ("900", "expected-arrivals"): 1,
                                  ("200", "received-not-dispatched"): 1}
    assert everything["dead_letter_count"] == 0 and everything["backlog"] == 0
    assert len(everything["trend_days"]) == 14
    mine = dashboard_data("200", False)
    assert {s["station"] for s in mine["stations"]} == {"st-200-1"}
    assert mine["grid"] == {("200", "received-not-dispatched"): 1} and mine["dead_letter_count"] is None
    assert [a["site"] for a in mine["accounts"]] == ["200"]
    parts = render_parts(None, True, "/console")
    assert set(parts) == set(PARTS)
    assert 'href="/console/dashboard/monitor/not-arrived?site=900"' in parts["monitor"]
    assert "st-900-1" in parts["stations"]


def test_monitoring_counts_agree_with_the_reports(tmp_path):
    from hub.business import monitoring
    console(tmp_path)
    for c in monitoring.counts():
        rows = monitoring.report(c["report"], c["site"])
        assert len(rows) == c["count"]
    assert monitoring.counts("100") == []


def test_sign_rate_trend_counts_each_day_once(tmp_path):
    from hub.business import sign_rate
    from hub.ingest.pipeline import commit
    console(tmp_path)
    day = 86_400_000
    rows = []
    for i, (dest, signed) in enumerate((("200", True), ("200", False), ("201", True))):
        w = wb(10 + i)
        rows += [scan(10 * i + 1, "dispatch", w, "901", "st-901", T + i * day, next_site=dest)]
        rows += [scan(10 * i + 2, "deliver", w, dest, "st-x", T + i * day + 3600_000, courier="2001")]
        if signed:
            rows += [scan(10 * i + 3, "sign", w, dest, "st-x", T + i * day + 7200_000, signer="x")]
    commit(rows)
    trend = sign_rate.trend(as_of_ms=T + 10 * day)
    assert [(t["parcels"], t["signed"], t["overdue"]) for t in trend] == [(1, 1, 0), (1, 0, 1), (1, 1, 0)]
    assert [t["parcels"] for t in sign_rate.trend("200", as_of_ms=T + 10 * day)] == [1, 1]


def test_public_view_of_a_parcel_has_no_staff(tmp_path):
    from hub.business.tracking import public_track, track
    console(tmp_path)
    a = wb(1)                       # console() committed it
    staff = track(a)
    assert staff["events"][0]["operator"] == "1002" and staff["events"][0]["courier"] == "1001"
    public = public_track(a)
    assert public["status"] == "in transit"
    assert [(e["what"], e["site_name"], e["next_site_name"]) for e in public["events"]] == [
        ("picked up at", "Xihu Site", None), ("left", "Xihu Site", "Hangzhou Center")]
    assert set(public["events"][0]) == {"time", "event_ms", "what", "site_name", "next_site_name"}
    assert public_track(wb(77)) is None


def test_openapi_describes_every_endpoint_and_works_under_a_root_path(tmp_path):
    from hub.web import api
    app, tokens = console(tmp_path)
    spec = TestClient(app, root_path="/console").get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.") and spec["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert set(spec["paths"]) == {"/console/api/v1" + p for p, _, _ in api.ROUTES}
    for path, fn, methods in api.ROUTES:
        for m in methods:
            assert spec["paths"]["/console/api/v1" + path][m.lower()]["summary"], path
    r = TestClient(app).get(f"/api/v1/track/{wb(1)}", headers={"Authorization": f"Bearer {tokens['agent']}"})
    assert r.status_code == 200 and r.json()["status"] == "in transit"


@pytest.mark.parametrize("listen,message", [("nonsense", "give HOST:PORT")])
def test_web_run_refuses_a_bad_listen_address(hub_store, listen, message):
    r = run("web", "run", "--db", hub_store, "--listen", listen, ok=False)
    assert r.exit_code == 1 and message in r.output


def test_vendored_htmx_is_pinned_with_its_licence():
    import hashlib
    import os
    from hub.web.views import HERE
    static = os.path.join(HERE, "static")
    listed = open(os.path.join(static, "VENDORED.txt"), encoding="utf-8").read()
    for name in ("htmx.min.js", "htmx-ext-sse.min.js"):
        digest = hashlib.sha256(open(os.path.join(static, name), "rb").read()).hexdigest()
        assert f"{digest}  {name}" in listed, name
    for lic in ("LICENSE-htmx.txt", "LICENSE-htmx-ext-sse.txt"):
        assert "Permission to use, copy, modify" in open(os.path.join(static, lic), encoding="utf-8").read()


def test_users_tokens_and_audit_on_each_store(store_url):
    """The access tables on SQLite and PostgreSQL: unique names, cascading tokens, the audit order."""
    from conftest import sample_store
    from hub.access import audit, users
    sample_store(store_url)
    users.add("ann", "qa", "a long enough password", actor="test")
    token = users.issue_token("ann", "bi", actor="test")
    assert users.user_for_token(token).username == "ann"
    assert users.authenticate("ann", "a long enough password").username == "ann"
    assert users.authenticate("ann", "a wrong password") is None
    with pytest.raises(users.AccessError, match="exists"):
        users.add("ann", "qa", "a long enough password", actor="test")
    users.remove("ann", actor="test")
    assert users.user_for_token(token) is None and users.tokens() == []
    assert [e["action"] for e in audit.entries()] == ["user.remove", "token.add", "user.add"]


FUZZ = dict(max_examples=40, deadline=None)


def test_fuzz_the_users_form(tmp_path):
    """Whatever an admin's browser sends to /users: a clear answer, and the store stays whole
    (every user still has a role the console knows, site staff a site)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hub.access import users
    from hub.access.roles import ROLES
    from web_helpers import csrf_of
    app, _ = console(tmp_path)
    c = TestClient(app)
    assert log_in(c, "admin").status_code == 303
    csrf = csrf_of(c.get("/users").text)
    field = st.one_of(st.text(max_size=30), st.sampled_from(list(ROLES) + ["100", "999", "lin", "admin", ""]))

    @settings(suppress_health_check=[HealthCheck.too_slow], **FUZZ)
    @given(action=st.sampled_from(["add", "set", "disable", "enable", "remove", "token", "revoke", "x"]),
           fields=st.dictionaries(st.sampled_from(["username", "role", "site", "password", "display_name",
                                                   "token_name"]), field, max_size=6))
    def one(action, fields):
        r = c.post("/users", data={**fields, "action": action, "csrf": csrf}, follow_redirects=False)
        assert r.status_code in (200, 303, 400), (action, fields, r.status_code)
        if r.status_code == 400:
            assert 'class="error"' in r.text
        for u in users.users():
            assert u["role"] in ROLES and (u["site"] is not None) == (u["role"] == "site")
        assert any(u["username"] == "admin" and u["active"] for u in users.users())   # never locks itself out
    one()


def test_digits_that_are_not_ascii_are_a_clear_error(tmp_path):
    """``"²".isdigit()`` is true but ``int("²")`` fails: found by the fuzzer, in the API and the CLI."""
    app, tokens = console(tmp_path)
    h = {"Authorization": f"Bearer {tokens['admin']}"}
    c = TestClient(app)
    assert c.get("/api/v1/monitor", params={"since": "²"}, headers=h).status_code == 400
    assert c.get("/api/v1/dead-letters", params={"limit": "²"}, headers=h).status_code == 400
    from hub.store.db import database
    r = run("monitor", "not-arrived", "--site", "900", "--since", "²", "--db", database.obj.database, ok=False)
    assert r.exit_code == 1 and "bad time" in r.output
