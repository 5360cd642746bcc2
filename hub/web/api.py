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
]


def openapi(request: Request):
    """The OpenAPI description of the endpoints above, with the paths as a client calls them."""
    from starlette.routing import Route
    prefix = base(request) + "/api/v1"
    spec = schemas.get_schema([Route(prefix + path, fn, methods=m) for path, fn, m in ROUTES])
    return JSONResponse(spec)
