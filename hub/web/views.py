"""What the pages and the API share: rendering templates, the guards that check who is asking,
reading request parameters into the library's types, and errors as pages or JSON."""
from __future__ import annotations

import functools
import os
import re
from urllib.parse import quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

from contract.scan import WAYBILL_LEN
from hub.access.roles import ROLE_WORDS, may, scope
from hub.business.localtime import format_ms
from hub.errors import HubError
from hub.web import security

HERE = os.path.dirname(__file__)
WAYBILL = re.compile(r"^[A-Za-z0-9-]{1,%d}$" % WAYBILL_LEN)

env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
                         autoescape=True, undefined=jinja2.StrictUndefined)
env.filters["when"] = lambda ms: format_ms(ms) if isinstance(ms, int) else ""
env.filters["urlpart"] = lambda v: quote(str(v), safe="")


def _ago(seconds) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago" if seconds < 172800 else f"{seconds // 86400} days ago"


env.filters["ago"] = _ago


def _yuan(cents) -> str:
    from hub.business.accounts import format_cents
    return format_cents(cents) if isinstance(cents, int) else ""


env.filters["yuan"] = _yuan
env.filters["pct"] = lambda v: "" if v is None else f"{v * 100:.1f}%"


def base(request: Request) -> str:
    """The path the console is served under (``--root-path``), also inside a mounted part."""
    return request.scope.get("app_root_path", request.scope.get("root_path", ""))


class BadRequest(HubError, ValueError):
    """A request parameter that cannot be used."""


def render(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    html = env.get_template(name).render(
        request=request, user=user, role_words=ROLE_WORDS,
        may=(lambda p: bool(user) and may(user.role, p)),
        csrf=security.csrf_token(request) if "session" in request.scope else "",
        root=base(request), **ctx)
    return HTMLResponse(html, status_code=status)


def fragment(name: str, **ctx) -> str:
    return env.get_template(name).render(**ctx)


def page(permission: str | None = None):
    """A page for a logged-in user with ``permission``: others are sent to the login page
    (not logged in) or get 403.  The handler runs in a worker thread (the store is blocking)."""
    def deco(fn):
        @functools.wraps(fn)
        async def handler(request: Request):
            user = await run_in_threadpool(security.session_user, request)
            if user is None:
                nxt = request.url.path + (("?" + request.url.query) if request.url.query else "")
                return RedirectResponse(base(request) + "/login?next=" + quote(nxt, safe=""),
                                        status_code=303)
            request.state.user = user
            request.state.scope = scope(user.role, user.site)
            if permission and not may(user.role, permission):
                return render(request, "error.html", 403, title="Not allowed",
                              message=f"Your role ({ROLE_WORDS[user.role]}) may not open this page.")
            if request.method == "POST":
                form = await request.form()
                if not security.csrf_ok(request, form.get("csrf")):
                    return render(request, "error.html", 403, title="Form expired",
                                  message="This form was not sent from this console (or your session changed): "
                                          "reload the page and send it again.")
                request.state.form = form
            return await run_in_threadpool(fn, request)
        return handler
    return deco


def api(permission: str):
    """A JSON endpoint for an API token whose user has ``permission``."""
    def deco(fn):
        @functools.wraps(fn)
        async def handler(request: Request):
            user = await run_in_threadpool(security.bearer_user, request)
            if user is None:
                return JSONResponse({"error": "an API token is required: Authorization: Bearer shk_…"}, 401,
                                    headers={"WWW-Authenticate": "Bearer"})
            if not may(user.role, permission):
                return JSONResponse({"error": f"role {user.role} may not use this endpoint"}, 403)
            request.state.user = user
            request.state.scope = scope(user.role, user.site)
            if request.method == "POST":
                try:
                    request.state.body = await request.json()
                except ValueError:
                    return JSONResponse({"error": "the body is not JSON"}, 400)
            try:
                return await run_in_threadpool(fn, request)
            except HubError as e:
                return JSONResponse({"error": str(e)}, 400)
        return handler
    return deco


def waybill_param(value) -> str:
    if not isinstance(value, str) or not WAYBILL.match(value.strip()):
        raise BadRequest(f"not a waybill number (letters, digits and '-', at most {WAYBILL_LEN})")
    return value.strip()


def site_param(request: Request, value: str | None) -> str | None:
    """The site a request asks for, within the user's scope: site staff get their own site (and
    403 for another one)."""
    mine = request.state.scope
    value = (value or "").strip() or None
    if mine is None:
        return value
    if value not in (None, mine):
        raise HTTPException(403, f"you may see only site {mine}")
    return mine


def time_param(value: str | None) -> int | None:
    from hub.business.localtime import parse_time
    if value is None or not value.strip():
        return None
    if len(value) > 40:
        raise BadRequest("a time is YYYY-MM-DD, YYYY-MM-DDTHH:MM or epoch milliseconds")
    return parse_time(value)


def int_param(value: str | None, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not lo <= int(value) <= hi:
        raise BadRequest(f"a whole number from {lo} to {hi} is expected, not {value[:20]!r}")
    return int(value)
