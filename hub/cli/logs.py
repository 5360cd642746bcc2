"""Logging for ``scanhub hub run``: lines for people, or one JSON object per line for a service
manager (``--log-format json``: journald, a log shipper).

Every record goes to stderr.  A JSON record is ``{"ts", "level", "logger", "message"}`` plus
the fields the code passed with ``extra=`` (the heartbeat's counters) and ``exc`` for a
traceback.  The heartbeat logger (``HEARTBEAT_LOGGER``) and ``hub run``'s own messages
(``RUN_LOGGER``: the broker it uses, running, stopped, why it cannot start) log at INFO whether
or not ``-v`` is given.  ``Reporter`` prints those messages as lines for people (stdout, and
warnings and errors on stderr, as click does) or, with JSON, as records: then every line the hub
writes is one JSON object.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys

FORMATS = ("text", "json")
HEARTBEAT_LOGGER = "scanhub.hub.heartbeat"
RUN_LOGGER = "scanhub.hub.run"
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

# attributes every LogRecord has: anything else on a record came through ``extra=``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds")
               .replace("+00:00", "Z"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup(verbose: bool = False, fmt: str = "text") -> None:
    """Send the hub's logs to stderr as ``fmt``: INFO and up with ``verbose``, else WARNING and
    up; the heartbeat always."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger(HEARTBEAT_LOGGER).setLevel(logging.INFO)
    logging.getLogger(RUN_LOGGER).setLevel(logging.INFO)


class Reporter:
    """``hub run``'s own messages: click lines (``text``) or log records (``json``)."""

    def __init__(self, fmt: str = "text"):
        import click
        self.click, self.json = click, fmt == "json"
        self.log = logging.getLogger(RUN_LOGGER)

    def say(self, text: str, **fields) -> None:
        if self.json:
            self.log.info(text, extra=fields)
        else:
            self.click.echo(text)

    def warn(self, text: str) -> None:
        if self.json:
            self.log.warning(text)
        else:
            self.click.echo(f"warning: {text}", err=True)

    def note(self, text: str) -> None:
        if self.json:
            self.log.info(text)
        else:
            self.click.echo(f"note: {text}", err=True)

    def fail(self, text: str):
        """Stop ``hub run`` with exit status 1 and ``text`` (``Error: …`` or an ERROR record)."""
        if self.json:
            self.log.error(text)
            raise SystemExit(1)
        raise self.click.ClickException(text)
