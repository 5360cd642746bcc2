"""The queue log in Asterisk's ``queue_log`` line format, so tools that read Asterisk's can read ours.

A line is ``epoch|callid|queue|agent|event|data1|data2|…``: ``epoch`` in whole seconds (UTC),
``queue`` ``NONE`` for agent events that concern no one queue (AGENTLOGIN, PAUSE …), ``agent``
``NONE`` when no agent is involved.  The events and their data, as app_queue writes them:

==================  =========================================================================
ENTERQUEUE          url, caller id
CONNECT             hold time (s), the agent's channel id, ring time (s); ours: ring time (ms)
COMPLETEAGENT       hold time, call time (s), original position   (the agent hung up)
COMPLETECALLER      hold time, call time, original position        (the caller hung up)
ABANDON             position, original position, wait time (s)
EXITWITHTIMEOUT     position, original position, wait time
EXITWITHKEY         key, position, original position, wait time
EXITEMPTY           position, original position, wait time
RINGNOANSWER        ring time (ms)
RINGCANCELED        ring time (ms)                     (another agent answered, or the caller left)
TRANSFER            extension, context, hold time, call time, original position
AGENTLOGIN          seat                                AGENTLOGOFF   seat, logged-in time (s)
PAUSE / UNPAUSE     reason                              ADDMEMBER / REMOVEMEMBER  (no data)
HOLD / UNHOLD       (no data)
==================  =========================================================================

Ours, in the same shape (tools that do not know them skip them): FULL and JOINEMPTY (url, caller
id: the caller was refused), CLOSED (url, caller id: a call missed out of hours), WRAPUPEND
(wrap-up time in s); and a fourth field of CONNECT, the ring time in ms (Asterisk's third is in
whole seconds; with it the moment the agent was offered the call is known to the millisecond, as
RINGNOANSWER and RINGCANCELED tell it).  The store keeps the same events with millisecond times
(``hub.acd.tables.QueueLogEntry``); the file keeps whole seconds as Asterisk does.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hub.acd.errors import AcdError

CALL_EVENTS = ("ENTERQUEUE", "CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "ABANDON", "EXITWITHTIMEOUT",
               "EXITWITHKEY", "EXITEMPTY", "RINGNOANSWER", "RINGCANCELED", "TRANSFER", "HOLD", "UNHOLD",
               "FULL", "JOINEMPTY", "CLOSED")
AGENT_EVENTS = ("AGENTLOGIN", "AGENTLOGOFF", "PAUSE", "UNPAUSE", "ADDMEMBER", "REMOVEMEMBER", "WRAPUPEND")
EVENTS = CALL_EVENTS + AGENT_EVENTS
#: How a call can leave a queue without an agent.
MISSED = ("ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY", "FULL", "JOINEMPTY", "CLOSED")
MAX_FIELD = 128


class QueueLogError(AcdError):
    """A queue-log line that cannot be read."""


@dataclass(frozen=True)
class Entry:
    """One queue-log event; ``time_ms`` UTC epoch milliseconds."""
    time_ms: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = ()

    def line(self) -> str:
        """The Asterisk line (whole seconds)."""
        return "|".join((str(self.time_ms // 1000), self.callid or "NONE", self.queue or "NONE",
                         self.agent or "NONE", self.event, *self.data))

    def key(self) -> str:
        """The event's identity as the file can tell it (the time in whole seconds and every
        field); identical lines are told apart by their order (``hub.acd.store``)."""
        raw = "|".join((str(self.time_ms // 1000), self.callid, self.queue, self.agent, self.event, *self.data))
        return hashlib.sha1(raw.encode("utf-8")).hexdigest()


def _clean(v) -> str:
    s = "" if v is None else str(v)
    if "|" in s or "\n" in s or "\r" in s:
        s = s.replace("|", "/").replace("\n", " ").replace("\r", " ")
    return s[:MAX_FIELD]


def entry(time_ms: int, callid: str, queue: str, agent: str, event: str, *data) -> Entry:
    """An entry with its fields made safe for the line format ('|' and line breaks replaced)."""
    if event not in EVENTS:
        raise QueueLogError(f"unknown queue-log event {event!r}")
    return Entry(int(time_ms), _clean(callid) or "NONE", _clean(queue) or "NONE", _clean(agent) or "NONE",
                 event, tuple(_clean(d) for d in data))


def parse_line(line: str, where: str = "line") -> Entry:
    """One Asterisk ``queue_log`` line as an ``Entry`` (``time_ms`` = epoch × 1000);
    ``QueueLogError`` naming ``where`` when it is not one.  Events we do not know are kept."""
    text = line.rstrip("\r\n")
    parts = text.split("|")
    if len(parts) < 5:
        raise QueueLogError(f"{where}: expected epoch|callid|queue|agent|event|…, got {text[:60]!r}")
    epoch, callid, queue, agent, event, *data = parts
    try:
        secs = int(epoch)
    except ValueError:
        try:
            secs = float(epoch)
        except ValueError:
            raise QueueLogError(f"{where}: the time {epoch[:20]!r} is not an epoch in seconds") from None
    if not (0 <= secs < 2 ** 33):
        raise QueueLogError(f"{where}: the time {epoch[:20]!r} is out of range")
    if not event or not event.replace("_", "").isalnum() or not event.isupper():
        raise QueueLogError(f"{where}: {event[:20]!r} is not an event name")
    if any(len(p) > MAX_FIELD for p in parts):
        raise QueueLogError(f"{where}: a field is longer than {MAX_FIELD} characters")
    return Entry(int(round(secs * 1000)), callid, queue, agent, event, tuple(data))


def read_file(path: str) -> list[Entry]:
    """Every line of a queue-log file; ``QueueLogError`` with the line number at the first bad one."""
    out = []
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    out.append(parse_line(line, f"{path}:{n}"))
    except UnicodeDecodeError as e:
        raise QueueLogError(f"{path}: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise QueueLogError(f"{path}: {e.strerror or e}") from None
    return out


class FileWriter:
    """Appends entries to a ``queue_log`` file, flushed per batch (a crash loses no written line)."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._f = open(path, "a", encoding="utf-8")
        except OSError as e:
            raise QueueLogError(f"{path}: {e.strerror or e}") from None

    def write(self, entries) -> None:
        for e in entries:
            self._f.write(e.line() + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()
