"""The console's pages: log in and out, the hub dashboard with its drill-down, staff tracking,
orders, users and the audit log, and the public tracking page.  Each handler parses, calls the
library, renders."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from hub.access import audit, users
from hub.access.roles import ROLES, may
from hub.web import security
from hub.web.views import BadRequest, base, int_param, page, render, site_param, waybill_param

SIGN_RATE_DAYS = 14


def _home_for(user) -> str:
    return "/dashboard" if may(user.role, "dashboard") else "/parcels"


def _safe_next(value: str | None) -> str | None:
    """Only a path on this server (never //host or a scheme): no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


async def login_form(request: Request):
    user = await run_in_threadpool(security.session_user, request)
    if user is not None:
        return RedirectResponse(base(request) + _home_for(user), 303)
    return render(request, "login.html", next=_safe_next(request.query_params.get("next")) or "", error=None)


async def login(request: Request):
    form = await request.form()
    username, password = str(form.get("username") or "")[:64], str(form.get("password") or "")[:1024]
    nxt = _safe_next(str(form.get("next") or ""))
    if not security.csrf_ok(request, form.get("csrf")):
        return render(request, "login.html", 403, next=nxt or "", error="The form expired: send it again.")
    limits: security.Limits = request.app.state.limits
    addr = security.address(request)
    wait = limits.login_blocked(username, addr)
    if wait:
        await run_in_threadpool(audit.record, username or "?", "login.blocked", username, f"retry in {wait} s", addr)
        return render(request, "login.html", 429, next=nxt or "",
                      error=f"Too many failed logins: try again in {wait} s.")
    user = await run_in_threadpool(users.authenticate, username, password)
    if user is None:
        limits.login_failed(username, addr)
        await run_in_threadpool(audit.record, username or "?", "login.failed", username, "", addr)
        return render(request, "login.html", 401, next=nxt or "", error="Wrong user name or password.")
    security.log_in(request, user)
    await run_in_threadpool(audit.record, user.username, "login", user.username, "", addr)
    return RedirectResponse(base(request) + (nxt or _home_for(user)), 303)


@page()
def logout(request: Request):
    audit.record(request.state.user.username, "logout", request.state.user.username, "", security.address(request))
    request.session.clear()
    return RedirectResponse(base(request) + "/login", 303)


@page()
def home(request: Request):
    return RedirectResponse(base(request) + _home_for(request.state.user), 303)


def dashboard_data(site: str | None, show_dead_letters: bool) -> dict:
    """Everything the dashboard shows, for one site or the whole network (also the SSE feed)."""
    from contract.clock import now_ms
    from hub.business import accounts, monitoring, sign_rate
    from hub.ingest.pipeline import dirty_count
    from hub.network.stations import STATES, station_states
    from hub.scans import dead_letters
    stations = [s for s in station_states() if site is None or s["site"] == site]
    counts = monitoring.counts(site)
    sites = sorted({c["site"] for c in counts})
    grid = {(c["site"], c["report"]): c["count"] for c in counts}
    balances = [a for a in accounts.summary() if site is None or a["site"] == site]
    from hub.business.localtime import network_offset
    now, off = now_ms(), network_offset()
    days = [sign_rate.period_of(now - k * 86_400_000, "day", off) for k in range(SIGN_RATE_DAYS - 1, -1, -1)]
    since = sign_rate.period_start(days[0], off)
    trend = sign_rate.trend(site, since_ms=since, tz_offset_min=off)
    by_day = {t["period"]: t for t in trend}
    return {"site": site, "stations": stations,
            "state_counts": {st: sum(1 for s in stations if s["state"] == st) for st in STATES},
            "reports": monitoring.REPORTS, "monitor_sites": sites, "grid": grid,
            "accounts": balances, "blocked": [a["site"] for a in balances if a["blocked"]],
            "trend": trend, "trend_days": [(d, by_day.get(d)) for d in days], "backlog": dirty_count(),
            "dead_letter_count": dead_letters.count() if show_dead_letters else None,
            "dead_letters": dead_letters.recent(10) if show_dead_letters else []}


@page("dashboard")
def dashboard(request: Request):
    data = dashboard_data(request.state.scope, may(request.state.user.role, "dead_letters"))
    return render(request, "dashboard.html", **data)


@page("dashboard")
def monitor_detail(request: Request):
    from hub.business import monitoring
    name = request.path_params["report"]
    if name not in monitoring.REPORTS:
        raise HTTPException(404, f"no report {name}")
    site = site_param(request, request.query_params.get("site"))
    rows = monitoring.report(name, site)
    columns = list(rows[0]) if rows else []
    return render(request, "monitor.html", report=name, site=site, rows=rows, columns=columns)


@page("dead_letters")
def dead_letter_list(request: Request):
    from hub.scans import dead_letters
    limit = int_param(request.query_params.get("limit"), 50, 1, 1000)
    return render(request, "dead_letters.html", rows=dead_letters.recent(limit))


@page("parcels")
def parcel_lookup(request: Request):
    from hub.business.tracking import involves, track
    raw = request.query_params.get("waybill")
    if raw is None:
        return render(request, "parcel.html", waybill="", history=None, error=None)
    try:
        waybill = waybill_param(raw)
    except BadRequest as e:
        return render(request, "parcel.html", 400, waybill="", history=None, error=str(e))
    t = track(waybill)
    mine = request.state.scope
    if t is None or (mine is not None and not involves(t, mine)):   # another site's parcel: as if unknown
        return render(request, "parcel.html", 404, waybill=waybill, history=None,
                      error=f"No scans of {waybill} at the hub" + (f" that concern site {mine}." if mine else "."))
    return render(request, "parcel.html", waybill=waybill, history=t, error=None)


@page("orders")
def order_list(request: Request):
    from hub.business import orders
    site = site_param(request, request.query_params.get("site"))
    return render(request, "orders.html", rows=orders.orders(site), site=site)


@page("orders")
def pickup_list(request: Request):
    """Pickup tasks (site staff: their site's), open first by default (``state``)."""
    from contract.clock import now_ms
    from hub.business import pickup
    site = site_param(request, request.query_params.get("site"))
    state = request.query_params.get("state") or "open"
    if state not in pickup.STATES + ("all",):
        raise BadRequest(f"state is one of {', '.join(pickup.STATES)} or all")
    rows = pickup.tasks(None if state == "all" else state, site=site, limit=500)
    return render(request, "pickups.html", rows=rows, site=site, state=state, now=now_ms())


@page("users")
def user_list(request: Request):
    return render(request, "users.html", rows=users.users(), tokens=users.tokens(), roles=ROLES, error=None,
                  new_token=None)


def _actor(request: Request) -> str:
    return request.state.user.username


@page("users")
def user_change(request: Request):
    """One form handler for the users page: ``action`` is add, set, disable, enable, remove,
    token or revoke."""
    f, addr, actor = request.state.form, security.address(request), _actor(request)
    action = str(f.get("action") or "")
    name = str(f.get("username") or "")
    new_token = None
    try:
        if action == "add":
            users.add(name, str(f.get("role") or ""), str(f.get("password") or ""), site=str(f.get("site") or "") or None,
                      display_name=str(f.get("display_name") or ""), actor=actor, address=addr)
        elif action == "set":
            users.set_(name, actor=actor, role=str(f.get("role") or "") or None, site=str(f.get("site") or "") or None,
                       address=addr)
        elif action in ("disable", "enable"):
            if action == "disable" and name == actor:
                raise users.AccessError("you cannot disable yourself")
            users.set_(name, actor=actor, active=action == "enable", address=addr)
        elif action == "remove":
            if name == actor:
                raise users.AccessError("you cannot remove yourself")
            users.remove(name, actor=actor, address=addr)
        elif action == "token":
            new_token = users.issue_token(name, str(f.get("token_name") or ""), actor=actor, address=addr)
        elif action == "revoke":
            users.revoke_token(name, str(f.get("token_name") or ""), actor=actor, address=addr)
        else:
            raise users.AccessError(f"unknown action {action[:20]!r}")
    except users.AccessError as e:
        return render(request, "users.html", 400, rows=users.users(), tokens=users.tokens(), roles=ROLES,
                      error=str(e), new_token=None)
    if new_token:
        return render(request, "users.html", rows=users.users(), tokens=users.tokens(), roles=ROLES, error=None,
                      new_token=new_token)
    return RedirectResponse(base(request) + "/users", 303)


@page("audit")
def audit_list(request: Request):
    limit = int_param(request.query_params.get("limit"), 200, 1, 5000)
    return render(request, "audit.html", rows=audit.entries(limit))


async def public_track(request: Request):
    """The public tracking page: no log-in, rate-limited per address, only what a customer may
    see (``hub.business.tracking.public_track``)."""
    from hub.business.tracking import public_track as lookup
    raw = request.query_params.get("waybill")
    if raw is None:
        return render(request, "track.html", waybill="", result=None, error=None)
    wait = request.app.state.limits.track_lookup(security.address(request))
    if wait:
        resp = render(request, "track.html", 429, waybill="", result=None,
                      error=f"Too many look-ups from your address: try again in {wait} s.")
        resp.headers["Retry-After"] = str(wait)
        return resp
    try:
        waybill = waybill_param(raw)
    except BadRequest as e:
        return render(request, "track.html", 400, waybill="", result=None, error=str(e))
    result = await run_in_threadpool(lookup, waybill)
    if result is None:
        return render(request, "track.html", 404, waybill=waybill, result=None,
                      error=f"We have no record of {waybill} yet. Check the number, or try again later.")
    return render(request, "track.html", waybill=waybill, result=result, error=None)
