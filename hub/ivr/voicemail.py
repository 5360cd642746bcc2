"""Voicemail: messages callers leave (the engine's ``save_voicemail`` action), kept as WAV files in
a voicemail directory with one ``ivr_voicemail`` row each.

``save(action, directory)`` copies the recorded WAV to ``<directory>/<yyyy-mm-dd>/<id>.wav``
(write to a temporary name, then rename: a half-copied file is never listed) and records the
caller, the menu path, the times and the file's SHA-256.  ``messages``, ``message`` and
``export`` read them back; the CRM turns a complaint box's messages into work orders.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import shutil

from hub.ivr.audio import read_wav_info
from hub.ivr.errors import IvrError
from hub.ivr.tables import Voicemail
from hub.store.db import write_transaction


def _row(v: Voicemail) -> dict:
    return {"id": v.id, "box": v.box, "caller": v.caller, "callee": v.callee, "menu_path": v.menu_path,
            "call_ms": v.call_ms, "recorded_ms": v.recorded_ms, "duration_ms": v.duration_ms,
            "seconds": round(v.duration_ms / 1000, 1), "file": v.file,
            "sha256": v.sha256, "size": v.size, "state": v.state}


def save(action: dict, directory: str) -> dict:
    """Store the message of an engine ``save_voicemail`` action; returns its row."""
    src = action.get("path") or ""
    info = read_wav_info(src)            # IvrError when it is no WAV: nothing is stored
    with open(src, "rb") as f:
        data = f.read()
    day = dt.datetime.fromtimestamp(int(action["recorded_ms"]) / 1000, dt.timezone.utc).strftime("%Y-%m-%d")
    os.makedirs(os.path.join(directory, day), exist_ok=True)
    with write_transaction():
        v = Voicemail.create(box=str(action.get("box") or "default")[:64], caller=str(action.get("caller") or "")[:40],
                             callee=str(action.get("callee") or "")[:40],
                             menu_path=" > ".join(action.get("menu_path") or []),
                             call_ms=action.get("started_ms"), recorded_ms=int(action["recorded_ms"]),
                             duration_ms=int(action.get("duration_ms") or info.duration_ms),
                             file="", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        rel = f"{day}/{v.id}.wav"
        tmp = os.path.join(directory, rel + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(directory, rel))
        v.file = rel
        v.save()
    return _row(v)


def messages(box: str | None = None, caller: str | None = None, state: str | None = None) -> list[dict]:
    q = Voicemail.select().order_by(Voicemail.recorded_ms.desc(), Voicemail.id.desc())
    if box:
        q = q.where(Voicemail.box == box)
    if caller:
        q = q.where(Voicemail.caller == caller)
    if state:
        q = q.where(Voicemail.state == state)
    return [_row(v) for v in q]


def message(vid: int, directory: str, mark_heard: bool = False) -> dict:
    v = Voicemail.get_or_none(Voicemail.id == vid)
    if v is None:
        raise IvrError(f"no voicemail {vid}")
    row = _row(v)
    path = os.path.join(directory, v.file)
    row["path"] = os.path.abspath(path)
    row["present"] = os.path.exists(path)
    if mark_heard and v.state == "new":
        Voicemail.update(state="heard").where(Voicemail.id == vid).execute()
        row["state"] = "heard"
    return row


def export(out_dir: str, directory: str, box: str | None = None, since_ms: int | None = None) -> dict:
    """Copy messages (and an index.csv / index.json) to ``out_dir``; checks each file's SHA-256."""
    rows = [r for r in messages(box) if since_ms is None or r["recorded_ms"] >= since_ms]
    os.makedirs(out_dir, exist_ok=True)
    copied, missing = [], []
    for r in rows:
        src = os.path.join(directory, r["file"])
        try:
            with open(src, "rb") as f:
                data = f.read()
        except OSError:
            missing.append(r["id"])
            continue
        if hashlib.sha256(data).hexdigest() != r["sha256"]:
            missing.append(r["id"])
            continue
        name = f"voicemail-{r['id']}.wav"
        shutil.copyfile(src, os.path.join(out_dir, name))
        copied.append(dict(r, exported_file=name))
    if copied:
        Voicemail.update(state="exported").where(Voicemail.id.in_([r["id"] for r in copied])).execute()
    with open(os.path.join(out_dir, "index.json"), "w", encoding="utf-8") as f:
        json.dump(copied, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out_dir, "index.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(copied[0]) if copied else ["id"])
        w.writeheader()
        w.writerows(copied)
    return {"exported": len(copied), "missing": missing, "out": out_dir}
