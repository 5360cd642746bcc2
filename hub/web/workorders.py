"""Work orders in the console: the list (site staff see only what is assigned to their site),
one order with its history, and the forms that move it (``hub.crm.workorders.orders``).

Site staff handle, reply and close (with a reason); agents, supervisors and admins also open,
verify, reopen and assign.
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
           "verify": "workorders_manage", "unsatisfied": "workorders_manage", "close": "workorders",
           "reopen": "workorders_manage", "assign": "workorders_manage"}


def _text(form, name: str, limit: int = 4000) -> str:
    return str(form.get(name) or "").strip()[:limit]


def apply(ticket: str, action: str, text: str, actor: str, to: str | None = None) -> dict:
    """One action on an order (``ACTIONS``; the caller checked the permission); its new view."""
    from hub.crm.workorders import orders
    if action == "handle":
        return orders.handle(ticket, text, actor=actor)
    if action == "reply":
        return orders.reply(ticket, text, actor=actor)
    if action == "note":
        if not text:
            raise orders.WorkOrderError("a note needs text")
        orders.note(ticket, text, actor=actor)
        return orders.show(ticket)
    if action in ("verify", "unsatisfied"):
        return orders.verify(ticket, text, actor=actor, satisfied=action == "verify")
    if action == "close":
        return orders.close(ticket, text, actor=actor)
    if action == "reopen":
        return orders.reopen(ticket, text, actor=actor)
    if action == "assign":
        return orders.assign(ticket, to, actor=actor)
    raise orders.WorkOrderError(f"unknown action {action[:20]!r}: {', '.join(ACTIONS)}")


def visible(scope: str | None, o: dict) -> bool:
    """Whether a user scoped to ``scope`` (a site, or None for the network) may see order ``o``."""
    return scope is None or o["assignee"] == f"site:{scope}"


def open_from(values: dict, actor: str) -> dict:
    """Open an order from a form's or a JSON body's fields (strings, cut to their lengths)."""
    from hub.crm.workorders import orders

    def t(name, limit=4000):
        return str(values.get(name) or "").strip()[:limit]
    return orders.open_work_order(
        t("kind", 20), subkind=t("subkind", 20), content=t("content"), phone=t("phone", 40), name=t("name", 80),
        waybill=t("waybill", 40), call_id=t("call_id", 128), customer_id=t("customer_id", 20), opened_by=actor,
        notify_sms=bool(values.get("notify_sms")))


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
    if o is None or not visible(request.state.scope, o):
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
        apply(o["ticket"], action, text, actor, to=_text(f, "to", 80) or None)
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
        o = open_from(f, actor)
    except orders.WorkOrderError as e:
        return render(request, "error.html", 400, title="Cannot open the work order", message=str(e))
    audit.record(actor, "workorder.open", o["ticket"], f"{o['kind']} → {o['assignee'] or ''}",
                 security.address(request))
    return RedirectResponse(f"{base(request)}/workorders/{o['ticket']}", 303)
