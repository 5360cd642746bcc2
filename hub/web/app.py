"""The web console as one ASGI application: ``create_app(db_url)``.

It binds the hub store once (the same store ``hub run`` writes), signs session cookies with the
key kept in the store, and serves the pages, the live dashboard feed, the public tracking page,
the HTTP API and the vendored htmx.  ``scanhub web run`` serves it with uvicorn (docs/web.md).
"""
from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hub.errors import HubError
from hub.web import api, chat, desk, live, pages, quality, security, workorders
from hub.web.views import base, HERE, render

SESSION_MAX_AGE_S = 8 * 3600
COOKIE = "scanhub_session"


class SecurityHeaders:
    """Adds ``security.HEADERS`` to every HTTP response (pure ASGI: SSE streams pass through)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                for k, v in security.HEADERS.items():
                    if k.lower().encode() not in have:
                        headers.append((k.lower().encode(), v.encode()))
                message = {**message, "headers": headers}
            await send(message)
        return await self.app(scope, receive, sending)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(base(request) + "/api/")


async def _http_error(request: Request, exc: HTTPException):
    if _is_api(request):
        return JSONResponse({"error": exc.detail}, exc.status_code)
    title = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}.get(exc.status_code, "Error")
    return render(request, "error.html", exc.status_code, title=title, message=str(exc.detail))


async def _hub_error(request: Request, exc: HubError):
    if _is_api(request):
        return JSONResponse({"error": str(exc)}, 400)
    return render(request, "error.html", 400, title="Cannot do that", message=str(exc))


def create_app(db_url: str | None = None, *, secure_cookies: bool = True, refresh_s: float = 2.0,
               limits: security.Limits | None = None, chat_queue: str = "chat",
               command_wait_s: float = 3.0) -> Starlette:
    """The console over the store at ``db_url`` (None: the store already bound, as in tests).
    ``secure_cookies``: the session cookie is sent over HTTPS only (turn it off only for plain
    HTTP on this machine); ``refresh_s``: how often the live dashboard looks for changes;
    ``chat_queue``: the ACD queue the public chats wait in; ``command_wait_s``: how long a state
    button or a new chat waits for the PBX to carry the request out."""
    from hub.business.localtime import network_offset, set_display_offset
    if db_url is not None:
        from hub.schema import connect
        connect(db_url)
    set_display_offset(network_offset())
    secret = security.session_secret()
    routes = [
        Route("/", pages.home),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/dashboard", pages.dashboard),
        Route("/dashboard/events", live.dashboard_events),
        Route("/dashboard/monitor/{report}", pages.monitor_detail),
        Route("/dead-letters", pages.dead_letter_list),
        Route("/parcels", pages.parcel_lookup),
        Route("/orders", pages.order_list),
        Route("/users", pages.user_list, methods=["GET"]),
        Route("/users", pages.user_change, methods=["POST"]),
        Route("/audit", pages.audit_list),
        Route("/track", pages.public_track),
        Route("/workorders", workorders.listing, methods=["GET"]),
        Route("/workorders", workorders.open_order, methods=["POST"]),
        Route("/workorders/{ticket}", workorders.detail, methods=["GET"]),
        Route("/workorders/{ticket}", workorders.act, methods=["POST"]),
        Route("/agent", desk.agent_page, methods=["GET"]),
        Route("/agent/state", desk.agent_state, methods=["POST"]),
        Route("/agent/events", desk.agent_events),
        Route("/agent/pop", desk.pop_page),
        Route("/agent/pop/{action}", desk.pop_action, methods=["POST"]),
        Route("/agent/callbacks", desk.callback_action, methods=["POST"]),
        Route("/agent/disposition", desk.disposition, methods=["POST"]),
        Route("/pickups", pages.pickup_list),
        Route("/agent/kb", desk.kb_search),
        Route("/wallboard", desk.wallboard, methods=["GET"]),
        Route("/wallboard", desk.supervise, methods=["POST"]),
        Route("/wallboard/events", desk.wallboard_events),
        Route("/chat", chat.start_form, methods=["GET"]),
        Route("/chat", chat.start, methods=["POST"]),
        Route("/chat/{chat}", chat.customer_page, methods=["GET"]),
        Route("/chat/{chat}", chat.customer_act, methods=["POST"]),
        Route("/chat/{chat}/events", chat.customer_events),
        Route("/agent/chat", desk.agent_chat, methods=["POST"]),
        Route("/qa", quality.qa_page, methods=["GET"]),
        Route("/qa", quality.qa_score, methods=["POST"]),
        Route("/recordings/{call}", quality.recording),
        Route("/api/v1/openapi.json", api.openapi),
        Mount("/api/v1", routes=[Route(p, fn, methods=m) for p, fn, m in api.ROUTES]),
        Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie=COOKIE, max_age=SESSION_MAX_AGE_S,
                   same_site="lax", https_only=secure_cookies),
    ], exception_handlers={HTTPException: _http_error, HubError: _hub_error})
    app.state.limits = limits or security.Limits()
    app.state.refresh_s = refresh_s
    app.state.chat_queue = chat_queue
    app.state.command_wait_s = command_wait_s
    return app
