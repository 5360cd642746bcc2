"""Pickup tasks (docs/protocol.md, "Pickup tasks"): the per-station list of open tasks the hub
publishes retained on ``…/{station}/pickup``, and the receive scan's link to a task.

A telephone pickup order becomes a task at the site that covers the sender's address
(``hub.business.pickup``).  Its **code** is ``PK`` and six or more digits (``PK000012``); the
courier scans it as the context code ``%U<code>`` before the receive scans of the labels he puts
on the parcels, and each of those scans carries ``extra.pickup = <code>``
(``contract.scan.validate_scan`` checks it).

The list's ``version`` is the first 16 hex digits of the SHA-256 of the canonical JSON (sorted
keys, no spaces) of ``{"site", "tasks"}``: it changes exactly when the list does, as the
configuration's does (``contract.config``).  ``parse_task_list`` is what a station runs on every
message: it returns the list or raises ``PayloadError`` with the reason, so a bad downlink is
refused and the last good list kept.
"""
from __future__ import annotations

import hashlib
import json
import re

from contract.errors import PayloadError

#: A task code: PK and 6-12 digits.
CODE_RE = re.compile(r"PK[0-9]{6,12}")
CODE_LEN = 14
CONTROL = "%U"               # the context code that names the task on a gun: %UPK000012
MAX_TASKS = 2000              # a site's open tasks in one message (more is refused, not truncated)
#: Fields of one task in the list: name -> (type, limit); text limits are characters.
TASK_FIELDS = {
    "code": ("text", CODE_LEN),
    "sender": ("text", 100),
    "phone": ("text", 32),
    "address": ("text", 300),
    "parcels": ("int", 999),
    "window_from_ms": ("int", None),
    "window_to_ms": ("int", None),
    "note": ("text", 300),
}
REQUIRED = ("code", "address", "parcels", "window_from_ms", "window_to_ms")


def code_for(number: int) -> str:
    """The task code of task number ``number`` (``PK000012``)."""
    if type(number) is not int or number < 1:
        raise PayloadError(f"bad task number {number!r}")
    return f"PK{number:06d}"


def is_code(text) -> bool:
    return isinstance(text, str) and CODE_RE.fullmatch(text) is not None


def list_version(site: str, tasks: list[dict]) -> str:
    """The version of a site's task list (see the module docstring)."""
    body = json.dumps({"site": site, "tasks": tasks}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def task_list(site: str, tasks: list[dict], generated_ms: int) -> dict:
    """The message for one station of ``site`` (``"v"`` is added by ``contract.protocol.encode``)."""
    return {"site": site, "version": list_version(site, tasks), "generated_ms": generated_ms, "tasks": tasks}


def check_task(t) -> dict:
    """One task of the list, checked; returns it with only the known fields."""
    if type(t) is not dict:
        raise PayloadError("a task must be a JSON object")
    out = {}
    for name, (kind, limit) in TASK_FIELDS.items():
        v = t.get(name)
        if v is None or v == "":
            if name in REQUIRED:
                raise PayloadError(f"task without {name}")
            continue
        if kind == "text":
            if type(v) is not str:
                raise PayloadError(f"task {name} must be a string")
            if len(v) > limit:
                raise PayloadError(f"task {name} longer than {limit} characters")
        else:
            if type(v) is not int:
                raise PayloadError(f"task {name} must be an integer")
            if limit is not None and not 1 <= v <= limit:
                raise PayloadError(f"task {name} must be 1 to {limit}")
        out[name] = v
    if not is_code(out["code"]):
        raise PayloadError(f"bad task code {out['code']!r} (PK and 6-12 digits)")
    if out["window_to_ms"] < out["window_from_ms"]:
        raise PayloadError(f"task {out['code']}: its window ends before it starts")
    return out


def parse_task_list(body, site: str | None = None) -> dict:
    """A task-list message (bytes, text or a decoded dict), checked: ``{"site", "version",
    "generated_ms", "tasks"}``.  ``PayloadError`` says why it is refused: not JSON, another
    site than ``site``, a bad task, duplicated codes, or a ``version`` that does not match."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("task list is not UTF-8") from None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as e:
            raise PayloadError(f"task list is not JSON: {e}") from None
    if type(body) is not dict:
        raise PayloadError("task list must be a JSON object")
    if body.get("v") not in (None, 1):
        raise PayloadError(f"task list of protocol version {body.get('v')!r}, this station speaks 1")
    s, version, gen, tasks = body.get("site"), body.get("version"), body.get("generated_ms"), body.get("tasks")
    if type(s) is not str or not s:
        raise PayloadError("task list without site")
    if site is not None and s != site:
        raise PayloadError(f"task list for site {s}, this station is at site {site}")
    if type(version) is not str:
        raise PayloadError("task list without version")
    if type(gen) is not int:
        raise PayloadError("task list without generated_ms")
    if type(tasks) is not list:
        raise PayloadError("task list without tasks")
    if len(tasks) > MAX_TASKS:
        raise PayloadError(f"task list of {len(tasks)} tasks (at most {MAX_TASKS})")
    checked = [check_task(t) for t in tasks]
    codes = [t["code"] for t in checked]
    if len(set(codes)) != len(codes):
        raise PayloadError("task list names a task twice")
    if list_version(s, checked) != version:
        raise PayloadError("task list version does not match its content")
    return {"site": s, "version": version, "generated_ms": gen, "tasks": checked}


def check_link(extra, kind: str) -> None:
    """The receive scan's link to a task (``extra.pickup``), if it has one; ``PayloadError``
    when it is not a task code or sits on a scan that is no receive."""
    if not extra or "pickup" not in extra:
        return
    code = extra["pickup"]
    if not is_code(code):
        raise PayloadError(f"extra.pickup {str(code)[:20]!r} is not a task code (PK and 6-12 digits)")
    if kind != "receive":
        raise PayloadError(f"a {kind} scan names pickup task {code}: only a receive scan closes a task")
