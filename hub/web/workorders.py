"""Work orders in the console: the list (site staff see only what is assigned to their site),
one order with its history, and the forms that move it (``hub.crm.workorders.orders``).

Site staff handle and reply; agents, supervisors and admins also open, verify, close and reopen.
An order of another site is answered as if it did not exist (404), by id as in the list."""
from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from hub.access import audit
from hub.access.roles import may
from hub.web import security
from hub.web.views import base, page, render

STATUSES = ("open", "closed")
#: form action -> (permission, what it calls)
ACTIONS = {"handle": "workorders", "reply": "workorders", "note": "workorders",
           "verify": "workorders_manage", "unsatisfied": "workorders_manage", "close": "workorders_manage",
           "reopen": "workorders_manage", "assign": "workorders_manage"}


def _mine(request: Request, o: dict) -> bool:
    site = request.state.scope
    return site is None or o["assignee"] == f"site:{site}"


def _text(form, name: str, limit: int = 4000) -> str:
    return str(form.get(name) or "").strip()[:limit]


@page("workorders")
def listing(request: Request):
    from hub.crm.workorders import orders
    from contract.clock import now_ms
    status = request.query_params.get("status") or "open"
    if status not in STATUSES + ("all",):
        status = "open"
    site = request.state.scope
    rows = orders.listing(status=None if status == "all" else status,
                          assignee=f"site:{site}" if site else None, limit=500)
    return render(request, "workorders.html", rows=rows, which=status, site=site, now=now_ms())


def _order(request: Request) -> dict:
    from hub.crm.workorders import orders
    ticket = request.path_params["ticket"][:40]
    try:
        o = orders.show(ticket)
    except orders.WorkOrderError:
        o = None
    if o is None or not _mine(request, o):
        raise HTTPException(404, f"no work order {ticket}")
    return o


def _transcript(o: dict) -> list[dict]:
    """The chat an order was opened from, kept with it."""
    from hub.chat import chats
    return chats.transcript(o["call_id"]) if chats.is_chat(o.get("call_id")) else []


@page("workorders")
def detail(request: Request):
    from contract.clock import now_ms
    o = _order(request)
    return render(request, "workorder.html", o=o, error=None, now=now_ms(), transcript=_transcript(o))


@page("workorders")
def act(request: Request):
    """One form for the order's page: ``action`` names what to do, ``text`` the note or reply."""
    from contract.clock import now_ms
    from hub.crm.workorders import orders
    o = _order(request)
    f, actor = request.state.form, request.state.user.username
    action, text = _text(f, "action", 20), _text(f, "text")
    if action not in ACTIONS or not may(request.state.user.role, ACTIONS[action]):
        raise HTTPException(403, f"you may not {action[:20] or 'do that'} on a work order")
    try:
        if action == "handle":
            orders.handle(o["ticket"], text, actor=actor)
        elif action == "reply":
            orders.reply(o["ticket"], text, actor=actor)
        elif action == "note":
            if not text:
                raise orders.WorkOrderError("a note needs text")
            orders.note(o["ticket"], text, actor=actor)
        elif action in ("verify", "unsatisfied"):
            orders.verify(o["ticket"], text, actor=actor, satisfied=action == "verify")
        elif action == "close":
            orders.close(o["ticket"], text, actor=actor)
        elif action == "reopen":
            orders.reopen(o["ticket"], text, actor=actor)
        elif action == "assign":
            orders.assign(o["ticket"], _text(f, "to", 80) or None, actor=actor)
    except orders.WorkOrderError as e:
        o = _order(request)
        return render(request, "workorder.html", 400, o=o, error=str(e), now=now_ms(), transcript=_transcript(o))
    audit.record(actor, f"workorder.{action}", o["ticket"], text[:200], security.address(request))
    return RedirectResponse(f"{base(request)}/workorders/{o['ticket']}", 303)


@page("workorders_manage")
def open_order(request: Request):
    """Open an order (from the agent's screen pop, or the list): kind, content, the caller's
    phone and name, the waybill, the call it came from."""
    from hub.crm.workorders import orders
    f, actor = request.state.form, request.state.user.username
    try:
        o = orders.open_work_order(
            _text(f, "kind", 20), subkind=_text(f, "subkind", 20), content=_text(f, "content"),
            phone=_text(f, "phone", 40), name=_text(f, "name", 80), waybill=_text(f, "waybill", 40),
            call_id=_text(f, "call_id", 128), customer_id=_text(f, "customer_id", 20), opened_by=actor,
            notify_sms=bool(f.get("notify_sms")))
    except orders.WorkOrderError as e:
        return render(request, "error.html", 400, title="Cannot open the work order", message=str(e))
    audit.record(actor, "workorder.open", o["ticket"], f"{o['kind']} → {o['assignee'] or ''}",
                 security.address(request))
    return RedirectResponse(f"{base(request)}/workorders/{o['ticket']}", 303)
