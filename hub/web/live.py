"""Live dashboard updates over server-sent events (sse-starlette; the page's htmx SSE extension
swaps each event's HTML into its place).

Every ``refresh_s`` seconds the feed reads the dashboard's data once and sends the parts that
changed since the last time (each as rendered, escaped HTML: ``stations``, ``summary``,
``monitor``, ``signrate``, ``accounts``, ``deadletters``), so an idle dashboard costs one read per
interval and sends nothing.
"""
from __future__ import annotations

import asyncio
import logging

from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from hub.access.roles import may, scope
from hub.web import security
from hub.web.views import base, fragment

PARTS = ("summary", "stations", "monitor", "signrate", "accounts", "deadletters")


log = logging.getLogger("scanhub.web")


async def html_feed(event: str, render, every: float):
    """Server-sent events named ``event``: ``render()`` (run in a worker thread) every ``every``
    seconds, sent when its HTML changed; a render that fails (a busy store) is tried again."""
    sent = None
    while True:
        try:
            html = await run_in_threadpool(render)
        except Exception as e:      # noqa: BLE001 - a store that cannot be read now is tried again
            log.warning("live %s: %s", event, e)
            html = None
        if html is not None and html != sent:
            sent = html
            yield {"event": event, "data": html}
        await asyncio.sleep(every)


def render_parts(site: str | None, show_dead_letters: bool, root: str) -> dict[str, str]:
    from hub.web.pages import dashboard_data
    data = dashboard_data(site, show_dead_letters)
    return {name: fragment(f"_{name}.html", root=root, **data) for name in PARTS}


async def dashboard_events(request: Request):
    user = await run_in_threadpool(security.session_user, request)
    if user is None or not may(user.role, "dashboard"):
        from starlette.responses import PlainTextResponse
        return PlainTextResponse("log in with a role that may see the dashboard", 403)
    site, show = scope(user.role, user.site), may(user.role, "dead_letters")
    every, root = request.app.state.refresh_s, base(request)

    async def feed():
        sent: dict[str, str] = {}
        while True:
            try:
                parts = await run_in_threadpool(render_parts, site, show, root)
            except Exception as e:   # noqa: BLE001 - a store that cannot be read now is tried again
                log.warning("live dashboard: cannot read the store: %s", e)
                parts = {}
            for name, html in parts.items():
                if sent.get(name) != html:
                    sent[name] = html
                    yield {"event": name, "data": html}
            await asyncio.sleep(every)

    return EventSourceResponse(feed(), ping=15)
