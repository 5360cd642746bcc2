"""The HTTP API: JSON for other systems, authenticated by an API token (``Authorization: Bearer
shk_…``, made with ``scanhub web token add``), scoped like the token user's pages.

Each endpoint's docstring is its OpenAPI description in YAML (served at
``/api/v1/openapi.json``; docs/web.md has curl examples).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.schemas import SchemaGenerator

from hub.access import audit
from hub.web import security
from hub.web.views import base, BadRequest, api, int_param, site_param, time_param, waybill_param

MAX_PICKUP = 1000

schemas = SchemaGenerator({
    "openapi": "3.0.3",
    "info": {"title": "scanhub hub API", "version": "1",
             "description": "Parcel tracking, stations, monitoring diffs, platform orders and prepaid accounts "
                            "of an express-parcel network. Every endpoint but this description needs "
                            "`Authorization: Bearer <token>` (scanhub web token add USER --name NAME)."},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "security": [{"token": []}],
})


@api("parcels")
def track(request: Request):
    """
    summary: A parcel's status and whole history (staff view)
    description: Site-staff tokens see only parcels scanned at, or sent to or from, their site (404 otherwise).
    parameters:
      - {name: waybill, in: path, required: true, schema: {type: string, maxLength: 40}}
    responses:
      200: {description: "waybill, status, kind, site, next_site and events (kind, site, time, event_ms, station, operator …)"}
      404: {description: unknown waybill}
    """
    from hub.business.tracking import involves, track as lookup
    waybill = waybill_param(request.path_params["waybill"])
    t = lookup(waybill)
    mine = request.state.scope
    if t is None or (mine is not None and not involves(t, mine)):
        return JSONResponse({"error": f"no scans of {waybill} at the hub"}, 404)
    return JSONResponse(t)


@api("dashboard")
def stations(request: Request):
    """
    summary: Stations and their state (online, stale, offline, never)
    parameters:
      - {name: site, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: "a list of {station, site, state, last_heard_ms, outbox_depth, config_version, clock_offset_ms …}"}
    """
    from hub.network.stations import station_states
    site = site_param(request, request.query_params.get("site"))
    return JSONResponse([s for s in station_states() if site is None or s["site"] == site])


@api("dashboard")
def monitor_counts(request: Request):
    """
    summary: How many parcels each of the eight monitoring diffs holds, per site
    parameters:
      - {name: site, in: query, required: false, schema: {type: string}}
      - {name: since, in: query, required: false, schema: {type: string}, description: "YYYY-MM-DD, YYYY-MM-DDTHH:MM (network time) or epoch ms"}
      - {name: until, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: "a list of {report, site, count}"}
    """
    from hub.business import monitoring
    site = site_param(request, request.query_params.get("site"))
    q = request.query_params
    return JSONResponse(monitoring.counts(site, time_param(q.get("since")), time_param(q.get("until"))))


@api("dashboard")
def monitor_report(request: Request):
    """
    summary: The rows of one monitoring diff (the same as scanhub monitor REPORT --json)
    parameters:
      - {name: report, in: path, required: true, schema: {type: string, enum: [deleted-unuploaded, not-arrived, expected-arrivals, delivered-unsigned, arrived-not-dispatched, dispatched-not-arrived, received-not-dispatched, prev-not-dispatched]}}
      - {name: site, in: query, required: false, schema: {type: string}}
      - {name: since, in: query, required: false, schema: {type: string}}
      - {name: until, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: a list of rows}
      400: {description: unknown report or bad window}
    """
    from hub.business import monitoring
    site = site_param(request, request.query_params.get("site"))
    q = request.query_params
    return JSONResponse(monitoring.report(request.path_params["report"], site, time_param(q.get("since")),
                                          time_param(q.get("until"))))


@api("orders")
def orders(request: Request):
    """
    summary: Platform orders with their pickup and delivery state
    parameters:
      - {name: site, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: "a list of {order_no, platform, site, accept, reason, waybill, pickup, delivery, province, city, district}"}
    """
    from hub.business import orders as o
    return JSONResponse(o.orders(site_param(request, request.query_params.get("site"))))


@api("pickup")
def pickup(request: Request):
    """
    summary: Batch pickup at a site - bind each order to the waybill it left with
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [site, pairs]
            properties:
              site: {type: string}
              pairs: {type: array, maxItems: 1000, items: {type: object, required: [order_no, waybill], properties: {order_no: {type: string}, waybill: {type: string}}}}
    responses:
      200: {description: "one {order_no, waybill, ok, reason} per pair; refused pairs change nothing"}
      400: {description: a malformed body}
    """
    from hub.business import orders as o
    body = request.state.body
    if not isinstance(body, dict) or not isinstance(body.get("site"), str) or not isinstance(body.get("pairs"), list):
        raise BadRequest('the body is {"site": "100", "pairs": [{"order_no": "…", "waybill": "…"}, …]}')
    site = site_param(request, body["site"])
    if site is None:
        raise BadRequest("site is required")
    if len(body["pairs"]) > MAX_PICKUP:
        raise BadRequest(f"at most {MAX_PICKUP} pairs at once")
    pairs = []
    for p in body["pairs"]:
        if not isinstance(p, dict) or not isinstance(p.get("order_no"), str) or not isinstance(p.get("waybill"), str):
            raise BadRequest("each pair is {\"order_no\": text, \"waybill\": text}")
        pairs.append((p["order_no"][:64], waybill_param(p["waybill"])))
    result = o.pickup(site, pairs)
    audit.record(request.state.user.username, "orders.pickup", site,
                 f"{sum(r['ok'] for r in result)} of {len(result)} bound", security.address(request))
    return JSONResponse(result)


@api("accounts")
def accounts(request: Request):
    """
    summary: Prepaid accounts - balance, mode, warning amount, blocked
    responses:
      200: {description: "a list of {site, mode, balance_cents, warning_cents, blocked, …} (amounts in cents)"}
    """
    from hub.business.accounts import summary
    mine = request.state.scope
    return JSONResponse([a for a in summary() if mine is None or a["site"] == mine])


@api("dead_letters")
def dead_letters(request: Request):
    """
    summary: Payloads the hub could not use, newest first
    parameters:
      - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 1000, default: 50}}
    responses:
      200: {description: "a list of {id, received_ms, topic, station, reason, payload}"}
    """
    from hub.scans.dead_letters import recent
    return JSONResponse(recent(int_param(request.query_params.get("limit"), 50, 1, 1000)))


@api("dashboard")
def health(request: Request):
    """
    summary: The derivation backlog and counts of stations by state and dead letters
    responses:
      200: {description: "{derivation_backlog, stations: {online, stale, offline, never}, dead_letters}"}
    """
    from hub.ingest.pipeline import dirty_count
    from hub.network.stations import STATES, station_states
    from hub.scans.dead_letters import count
    mine = request.state.scope
    states = [s["state"] for s in station_states() if mine is None or s["site"] == mine]
    return JSONResponse({"derivation_backlog": dirty_count(), "stations": {s: states.count(s) for s in STATES},
                         "dead_letters": count() if mine is None else None})


@api("waybills")
def waybill_entry(request: Request):
    """
    summary: Enter waybills (录单) - waybill records as stations send them
    description: >-
      Body `{"records": [...]}`, each record as in docs/protocol.md ("WAYBILL"): id, waybill, site,
      station, operator, edge_ms, event_ms, fields.  Idempotent by id.  Site-staff tokens enter for
      their own site only.  At most 1000 records.
    requestBody: {required: true, content: {application/json: {schema: {type: object}}}}
    responses:
      200: {description: "{committed: [ids], rejected: [{id, reason}]}"}
      400: {description: "the body is not {records: [...]}"}
    """
    from hub.waybills.records import commit_records
    body = request.state.body
    recs = body.get("records") if isinstance(body, dict) else None
    if not isinstance(recs, list) or not 1 <= len(recs) <= MAX_PICKUP:
        raise BadRequest(f"the body is {{\"records\": [...]}} with 1 to {MAX_PICKUP} waybill records")
    mine = request.state.scope
    foreign = [r for r in recs if mine is not None and (not isinstance(r, dict) or r.get("site") != mine)]
    ok = [r for r in recs if not any(r is f for f in foreign)]
    committed, rejected = commit_records(ok) if ok else ([], [])
    out = {"committed": [r["id"] for r in committed],
           "rejected": [{"id": r.get("id") if isinstance(r, dict) else None, "reason": why} for r, why in rejected]
           + [{"id": r.get("id") if isinstance(r, dict) else None, "reason": f"you enter waybills for site {mine} only"}
              for r in foreign]}
    audit.record(request.state.user.username, "api.waybills", "", f"{len(out['committed'])} committed, "
                 f"{len(out['rejected'])} rejected", security.address(request))
    return JSONResponse(out)


@api("parcels")
def waybill_show(request: Request):
    """
    summary: An entered waybill as the hub holds it (the folded records)
    parameters:
      - {name: waybill, in: path, required: true, schema: {type: string, maxLength: 40}}
    responses:
      200: {description: "waybill, site, fields, records …"}
      404: {description: not entered}
    """
    from hub.waybills.records import entry
    waybill = waybill_param(request.path_params["waybill"])
    e = entry(waybill)
    mine = request.state.scope
    if e is None or (mine is not None and mine not in (e["origin_site"], (e["fields"] or {}).get("dest_site"))):
        return JSONResponse({"error": f"waybill {waybill} is not entered"}, 404)
    return JSONResponse(e)


@api("agent_desk")
def crm_lookup(request: Request):
    """
    summary: Everything about a caller's number - customers, parcels, calls, SMS, quotes, work orders
    description: The screen pop's data (docs/crm.md, "Caller lookup").
    parameters:
      - {name: number, in: path, required: true, schema: {type: string, maxLength: 40}}
    responses:
      200: {description: "{phone, national, known, shared, customers, parcels, calls, sms, quotes, tasks, work_orders, related}"}
      400: {description: not a phone number}
    """
    from hub.crm.lookup import lookup
    return JSONResponse(lookup(request.path_params["number"][:40]))


@api("workorders")
def workorder_list(request: Request):
    """
    summary: Work orders, newest first (site-staff tokens - those assigned to their site)
    parameters:
      - {name: status, in: query, required: false, schema: {type: string, enum: [open, closed]}}
      - {name: waybill, in: query, required: false, schema: {type: string}}
      - {name: phone, in: query, required: false, schema: {type: string}}
      - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 1000, default: 200}}
    responses:
      200: {description: "a list of {ticket, kind, subkind, status, step, deadline_ms, assignee, waybill, phone, name, created_ms …}"}
    """
    from hub.crm.workorders import orders
    q = request.query_params
    mine = request.state.scope
    status = q.get("status") or None
    if status not in (None, "open", "closed"):
        raise BadRequest("status is open or closed")
    rows = orders.listing(status=status, waybill=q.get("waybill") or None, phone=q.get("phone") or None,
                          assignee=f"site:{mine}" if mine else None,
                          limit=int_param(q.get("limit"), 200, 1, 1000))
    return JSONResponse(rows)


def _workorder(request: Request) -> dict | None:
    from hub.crm.workorders import orders
    from hub.web.workorders import visible
    try:
        o = orders.show(request.path_params["ticket"][:40])
    except orders.WorkOrderError:
        return None
    return o if visible(request.state.scope, o) else None


@api("workorders")
def workorder_show(request: Request):
    """
    summary: One work order with its history (events) and mail thread
    parameters:
      - {name: ticket, in: path, required: true, schema: {type: string}}
    responses:
      200: {description: "the order's fields, events [{at_ms, action, step, actor, text}], mail"}
      404: {description: "unknown, or another site's"}
    """
    o = _workorder(request)
    if o is None:
        return JSONResponse({"error": f"no work order {request.path_params['ticket'][:40]}"}, 404)
    return JSONResponse(o)


@api("workorders")
def workorder_act(request: Request):
    """
    summary: Move a work order - handle, reply, note (site staff and the call center), verify, unsatisfied, close, reopen, assign
    parameters:
      - {name: ticket, in: path, required: true, schema: {type: string}}
    requestBody: {required: true, content: {application/json: {schema: {type: object, properties: {action: {type: string}, text: {type: string}, to: {type: string}}}}}}
    responses:
      200: {description: the order after the action}
      400: {description: "the step does not allow it, or text is missing"}
      403: {description: "the token's role may not do that action"}
      404: {description: "unknown, or another site's"}
    """
    from hub.access.roles import may
    from hub.web.workorders import ACTIONS, apply
    o = _workorder(request)
    if o is None:
        return JSONResponse({"error": f"no work order {request.path_params['ticket'][:40]}"}, 404)
    body = request.state.body if isinstance(request.state.body, dict) else {}
    action, text = str(body.get("action") or ""), str(body.get("text") or "").strip()[:4000]
    if action not in ACTIONS:
        raise BadRequest(f"action is one of {', '.join(ACTIONS)}")
    if not may(request.state.user.role, ACTIONS[action]):
        return JSONResponse({"error": f"role {request.state.user.role} may not {action} a work order"}, 403)
    out = apply(o["ticket"], action, text, request.state.user.username, to=str(body.get("to") or "")[:80] or None)
    audit.record(request.state.user.username, f"workorder.{action}", o["ticket"], text[:200], security.address(request))
    return JSONResponse(out)


@api("workorders_manage")
def workorder_open(request: Request):
    """
    summary: Open a work order (assigned by the flow's rules)
    requestBody: {required: true, content: {application/json: {schema: {type: object, properties: {kind: {type: string}, subkind: {type: string}, content: {type: string}, phone: {type: string}, name: {type: string}, waybill: {type: string}, call_id: {type: string}}}}}}
    responses:
      200: {description: the new order}
      400: {description: "unknown kind, bad phone …"}
    """
    from hub.web.workorders import open_from
    body = request.state.body if isinstance(request.state.body, dict) else {}
    o = open_from(body, request.state.user.username)
    audit.record(request.state.user.username, "workorder.open", o["ticket"], o["kind"], security.address(request))
    return JSONResponse(o)


@api("chat_api")
def chat_open(request: Request):
    """
    summary: Start a customer's chat on their behalf (a chat app's back end) - it waits in the chat queue
    requestBody: {required: true, content: {application/json: {schema: {type: object, properties: {name: {type: string}, phone: {type: string}, text: {type: string}}, required: [text]}}}}
    responses:
      200: {description: "{chat, key, state}: the key reads and writes the chat"}
      400: {description: "no text, bad phone"}
    """
    from hub.chat import chats
    body = request.state.body if isinstance(request.state.body, dict) else {}
    queue = request.app.state.chat_queue
    c, key = chats.open_chat(queue, str(body.get("text") or ""), name=str(body.get("name") or ""),
                             phone=str(body.get("phone") or ""))
    chats.join(c, request.app.state.command_wait_s)
    return JSONResponse({"chat": c["id"], "key": key, "state": chats.get(c["id"])["state"]})


def _chat(request: Request, key) -> dict | None:
    from hub.chat import chats
    return chats.by_secret(request.path_params["chat"], str(key or ""))


@api("chat_api")
def chat_read(request: Request):
    """
    summary: A chat's state and messages (after message id `after`)
    parameters:
      - {name: chat, in: path, required: true, schema: {type: string}}
      - {name: key, in: query, required: true, schema: {type: string}}
      - {name: after, in: query, required: false, schema: {type: integer, default: 0}}
    responses:
      200: {description: "{chat: {id, state, …}, messages: [{id, at_ms, side, text}]}"}
      404: {description: "unknown chat or wrong key"}
    """
    from hub.chat import chats
    c = _chat(request, request.query_params.get("key"))
    if c is None:
        return JSONResponse({"error": "no such chat"}, 404)
    after = int_param(request.query_params.get("after"), 0, 0, 2**62)
    msgs = [{k: m[k] for k in ("id", "at_ms", "side", "text")} for m in chats.transcript(c["id"], after)]
    return JSONResponse({"chat": {k: c[k] for k in ("id", "state", "started_ms", "answered_ms", "ended_ms")},
                         "messages": msgs})


@api("chat_api")
def chat_write(request: Request):
    """
    summary: The customer writes in their chat
    parameters:
      - {name: chat, in: path, required: true, schema: {type: string}}
    requestBody: {required: true, content: {application/json: {schema: {type: object, properties: {key: {type: string}, text: {type: string}}, required: [key, text]}}}}
    responses:
      200: {description: "{id, at_ms}"}
      400: {description: "no text, or the chat has ended"}
      404: {description: "unknown chat or wrong key"}
    """
    from hub.chat import chats
    body = request.state.body if isinstance(request.state.body, dict) else {}
    c = _chat(request, body.get("key"))
    if c is None:
        return JSONResponse({"error": "no such chat"}, 404)
    m = chats.say(c["id"], "customer", str(body.get("text") or ""), author=c["name"])
    return JSONResponse({"id": m["id"], "at_ms": m["at_ms"]})


ROUTES = [
    ("/track/{waybill}", track, ["GET"]),
    ("/stations", stations, ["GET"]),
    ("/health", health, ["GET"]),
    ("/monitor", monitor_counts, ["GET"]),
    ("/monitor/{report}", monitor_report, ["GET"]),
    ("/orders", orders, ["GET"]),
    ("/orders/pickup", pickup, ["POST"]),
    ("/accounts", accounts, ["GET"]),
    ("/dead-letters", dead_letters, ["GET"]),
    ("/waybills", waybill_entry, ["POST"]),
    ("/waybills/{waybill}", waybill_show, ["GET"]),
    ("/crm/lookup/{number}", crm_lookup, ["GET"]),
    ("/workorders", workorder_list, ["GET"]),
    ("/workorders", workorder_open, ["POST"]),
    ("/workorders/{ticket}", workorder_show, ["GET"]),
    ("/workorders/{ticket}", workorder_act, ["POST"]),
    ("/chats", chat_open, ["POST"]),
    ("/chats/{chat}", chat_read, ["GET"]),
    ("/chats/{chat}/messages", chat_write, ["POST"]),
]


def openapi(request: Request):
    """The OpenAPI description of the endpoints above, with the paths as a client calls them."""
    from starlette.routing import Route
    prefix = base(request) + "/api/v1"
    spec = schemas.get_schema([Route(prefix + path, fn, methods=m) for path, fn, m in ROUTES])
    return JSONResponse(spec)
