"""Quality assurance: evaluation forms with weighted criteria (weights by AHP), scores per recorded
call by a QA seat, and per-agent results over time.

A form file (YAML)::

    name: inbound-2026
    criteria: [greeting, accuracy, empathy, resolution]
    judgements: {greeting/accuracy: 1/3, greeting/empathy: 1/2, greeting/resolution: 1/5,
                 accuracy/empathy: 2, accuracy/resolution: 1/2, empathy/resolution: 1/3}

(or ``weights: {greeting: 0.1, …}`` given directly).  A score gives every criterion 0–100; the
call's total is the weighted sum.
"""
from __future__ import annotations

import datetime as dt
import json
import re

from contract.clock import now_ms
from hub.acd import ahp
from hub.acd.errors import AcdError
from hub.acd.tables import QaForm, QaScore
from hub.store.db import write_transaction

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def form_from(spec: dict, where: str = "form") -> dict:
    if not isinstance(spec, dict) or not _NAME.match(str(spec.get("name", ""))):
        raise AcdError(f"{where}: needs a name (letters, digits, . _ -)")
    if isinstance(spec.get("weights"), dict):
        w = spec["weights"]
        if not w or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in w.values()) \
                or not sum(w.values()):
            raise AcdError(f"{where}: weights must be non-negative numbers, not all 0")
        weights = {str(k): v / sum(w.values()) for k, v in w.items()}
        cr = None
    else:
        r = ahp.from_spec(spec, where)
        weights, cr = r["weights"], r["cr"]
    return {"name": str(spec["name"]), "weights": weights, "cr": cr}


def save_form(form: dict) -> None:
    with write_transaction():
        QaForm.insert(name=form["name"], body=json.dumps(form), created_ms=now_ms()).on_conflict(
            conflict_target=[QaForm.name], update={QaForm.body: json.dumps(form)}).execute()


def get_form(name: str) -> dict:
    row = QaForm.get_or_none(QaForm.name == name)
    if row is None:
        raise AcdError(f"no QA form {name!r} (add it with `scanhub cc qa form FILE`)")
    return json.loads(row.body)


def forms() -> list[dict]:
    """Every evaluation form: name, weights (criterion -> weight), cr."""
    return [json.loads(f.body) for f in QaForm.select().order_by(QaForm.name)]


def scored(callids) -> dict[str, list[dict]]:
    """The evaluations of these calls: call -> [{form, evaluator, total, time_ms}]."""
    ids = sorted(set(callids))
    out: dict[str, list[dict]] = {}
    for i in range(0, len(ids), 500):
        for s in QaScore.select().where(QaScore.callid.in_(ids[i:i + 500])).order_by(QaScore.time_ms):
            out.setdefault(s.callid, []).append({"form": s.form, "evaluator": s.evaluator,
                                                 "total": round(s.total, 2), "time_ms": s.time_ms})
    return out


def score(form_name: str, callid: str, agent: str, evaluator: str, scores: dict[str, float]) -> dict:
    """Score a call on every criterion of the form (0–100 each); the weighted total is stored."""
    form = get_form(form_name)
    want = set(form["weights"])
    if set(scores) != want:
        missing, extra = sorted(want - set(scores)), sorted(set(scores) - want)
        raise AcdError("scores must name every criterion of the form once"
                       + (f"; missing {', '.join(missing)}" if missing else "")
                       + (f"; unknown {', '.join(extra)}" if extra else ""))
    for k, v in scores.items():
        if not 0 <= v <= 100:
            raise AcdError(f"score {k}={v:g} is outside 0..100")
    total = sum(form["weights"][k] * v for k, v in scores.items())
    with write_transaction():
        QaScore.create(form=form_name, callid=callid, agent=agent, evaluator=evaluator, time_ms=now_ms(),
                       scores=json.dumps(scores), total=total)
    return {"form": form_name, "call": callid, "agent": agent, "total": total}


def results(agent: str | None = None, since_ms: int | None = None, until_ms: int | None = None,
            period: str = "month", tz_offset_min: int = 0) -> list[dict]:
    """Per agent and period (day or month): evaluations, mean, lowest and highest total."""
    q = QaScore.select().order_by(QaScore.time_ms)
    if agent:
        q = q.where(QaScore.agent == agent)
    if since_ms is not None:
        q = q.where(QaScore.time_ms >= since_ms)
    if until_ms is not None:
        q = q.where(QaScore.time_ms < until_ms)
    groups: dict = {}
    tz = dt.timezone(dt.timedelta(minutes=tz_offset_min))
    for s in q:
        d = dt.datetime.fromtimestamp(s.time_ms / 1000, tz)
        key = (s.agent, d.strftime("%Y-%m" if period == "month" else "%Y-%m-%d"))
        groups.setdefault(key, []).append(s.total)
    return [{"agent": a, "period": p, "evaluations": len(v), "mean": round(sum(v) / len(v), 2),
             "lowest": round(min(v), 2), "highest": round(max(v), 2)} for (a, p), v in sorted(groups.items())]


def mean_score(callids) -> float | None:
    """The mean total of the evaluations of these calls (None when none was scored)."""
    ids = sorted(set(callids))
    v = []
    for i in range(0, len(ids), 500):
        v += [s.total for s in QaScore.select(QaScore.total).where(QaScore.callid.in_(ids[i:i + 500]))]
    return sum(v) / len(v) if v else None
