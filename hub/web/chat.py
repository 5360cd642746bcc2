"""The public chat (online customer service): a customer starts a chat on ``/chat`` (no login,
rate-limited per address), waits in the ACD queue ``--chat-queue`` like a caller, and writes
with the agent who takes it on their desk.  The customer's link carries the chat's secret key;
without it a chat cannot be read or written.  ``hub.chat.chats`` keeps the conversation."""
from __future__ import annotations

from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

from hub.web import security
from hub.web.live import html_feed
from hub.web.views import base, fragment, render

POLL_S = 0.3


def _chat_or_404(request: Request, key: str | None):
    from hub.chat import chats
    c = chats.by_secret(request.path_params["chat"], key or "")
    return c


async def start_form(request: Request):
    return render(request, "chat_start.html", error=None, values={})


async def start(request: Request):
    from hub.chat import chats
    form = await request.form()
    values = {k: str(form.get(k) or "")[:2000] for k in ("name", "phone", "text")}
    if not security.csrf_ok(request, form.get("csrf")):
        return render(request, "chat_start.html", 403, error="The form expired: send it again.", values=values)
    wait = request.app.state.limits.chat_start(security.address(request))
    if wait:
        resp = render(request, "chat_start.html", 429, values=values,
                      error=f"Too many chats from your address: try again in {wait} s.")
        resp.headers["Retry-After"] = str(wait)
        return resp
    queue, wait = request.app.state.chat_queue, request.app.state.command_wait_s
    try:
        c, secret = await run_in_threadpool(chats.open_chat, queue, values["text"], name=values["name"],
                                            phone=values["phone"])
    except chats.ChatError as e:
        return render(request, "chat_start.html", 400, error=str(e), values=values)

    await run_in_threadpool(chats.join, c, wait)
    return RedirectResponse(f"{base(request)}/chat/{c['id']}?key={secret}", 303)


def _page_data(chat_id: str) -> dict:
    from hub.chat import chats
    return {"chat": chats.get(chat_id), "messages": chats.transcript(chat_id)}


async def customer_page(request: Request):
    key = request.query_params.get("key")
    c = await run_in_threadpool(_chat_or_404, request, key)
    if c is None:
        return render(request, "error.html", 404, title="Not found", message="No such chat (check the link).")
    data = await run_in_threadpool(_page_data, c["id"])
    return render(request, "chat.html", key=key, error=None, **data)


async def customer_act(request: Request):
    """The customer writes (``text``) or leaves (``action=leave``)."""
    from hub.acd import presence
    from hub.chat import chats
    form = await request.form()
    key = str(form.get("key") or "")
    c = await run_in_threadpool(_chat_or_404, request, key)
    if c is None:
        return render(request, "error.html", 404, title="Not found", message="No such chat (check the link).")
    if not security.csrf_ok(request, form.get("csrf")):
        return render(request, "error.html", 403, title="Form expired", message="Reload the page and send it again.")

    def act():
        if form.get("action") == "leave":
            if c["state"] != "ended":
                presence.ask(c["id"], "chat-leave", c["id"], request.app.state.command_wait_s)
                chats.ended(c["id"], "customer")
        else:
            chats.say(c["id"], "customer", str(form.get("text") or ""), author=c["name"])
    try:
        await run_in_threadpool(act)
    except chats.ChatError as e:
        data = await run_in_threadpool(_page_data, c["id"])
        return render(request, "chat.html", 400, key=key, error=str(e), **data)
    return RedirectResponse(f"{base(request)}/chat/{c['id']}?key={key}", 303)


async def customer_events(request: Request):
    """The customer's live transcript: the conversation re-sent when it changed."""
    c = await run_in_threadpool(_chat_or_404, request, request.query_params.get("key"))
    if c is None:
        return PlainTextResponse("no such chat", 404)

    feed = html_feed("messages", lambda: fragment("_chat_messages.html", viewer="customer", **_page_data(c["id"])),
                     POLL_S)
    return EventSourceResponse(feed, ping=15)
