"""Quality assurance in the console: recorded calls to listen to and score with an evaluation
form (``hub.acd.qa``: criteria weighted by AHP), and the results per agent and month."""
from __future__ import annotations

import os

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse

from hub.access import audit
from hub.web import security
from hub.web.views import base, int_param, page, render

RECENT = 50


def _agents_of(call_ids: list[str]) -> dict[str, str]:
    """call -> the agent who answered it (the queue log's CONNECT), else the seat of its CDR."""
    from hub.acd.store import entries_of_calls
    from hub.telephony.tables import CallRecord
    out = {}
    for e in entries_of_calls(call_ids):
        if e.event == "CONNECT" and e.agent != "NONE":
            out[e.callid] = e.agent
    for c in CallRecord.select(CallRecord.call_id, CallRecord.seat).where(CallRecord.call_id.in_(call_ids)):
        if c.seat:
            out.setdefault(c.call_id, c.seat)
    return out


def qa_data(limit: int) -> dict:
    from hub.acd import dispositions, qa
    from hub.business.localtime import network_offset
    from hub.telephony.cdr import recordings
    recs = recordings(limit=limit)
    ids = [r["call_id"] for r in recs]
    agents, done, disp = _agents_of(ids), qa.scored(ids), dispositions.of_calls(ids)
    for r in recs:
        r["agent"], r["scores"] = agents.get(r["call_id"], ""), done.get(r["call_id"], [])
        r["disposition"] = disp.get(r["call_id"])
    return {"recordings": recs, "forms": qa.forms(),
            "results": qa.results(period="month", tz_offset_min=network_offset())}


@page("qa")
def qa_page(request: Request):
    limit = int_param(request.query_params.get("limit"), RECENT, 1, 1000)
    return render(request, "qa.html", error=None, done=request.query_params.get("scored"), **qa_data(limit))


@page("qa")
def qa_score(request: Request):
    """Score one call: ``form``, ``call``, ``agent`` and one 0–100 field per criterion."""
    from hub.acd import qa
    from hub.acd.errors import AcdError
    f, me = request.state.form, request.state.user.username
    form_name, call, agent = (str(f.get(k) or "").strip()[:128] for k in ("form", "call", "agent"))
    try:
        form = qa.get_form(form_name)
        scores = {}
        for k in form["weights"]:
            raw = str(f.get(f"c.{k}") or "").strip()
            try:
                scores[k] = float(raw)
            except ValueError:
                raise AcdError(f"{k}: a score from 0 to 100 is needed, not {raw[:20]!r}") from None
        if not call or not agent:
            raise AcdError("the call and its agent are needed")
        r = qa.score(form_name, call, agent, me, scores)
    except AcdError as e:
        return render(request, "qa.html", 400, error=str(e), done=None, **qa_data(RECENT))
    audit.record(me, "qa.score", call, f"{form_name} {agent} {r['total']:.1f}", security.address(request))
    return RedirectResponse(f"{base(request)}/qa?scored={call}", 303)


@page("recordings")
def recording(request: Request):
    """A call's recording (WAV) to play in the page."""
    from hub.telephony.tables import CallRecording
    cid = request.path_params["call"][:32]
    r = CallRecording.get_or_none(CallRecording.call_id == cid)
    if r is None or r.deleted_ms is not None or not os.path.isfile(r.path):
        raise HTTPException(404, f"no recording of call {cid}")
    return FileResponse(r.path, media_type="audio/wav", filename=f"{cid}.wav")
