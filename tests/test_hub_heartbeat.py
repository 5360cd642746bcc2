"""`hub run` says what it is doing: a heartbeat at a steady interval, JSON logs for a service
manager, and the systemd units docs/deployment.md ships run commands that exist."""
from __future__ import annotations

import configparser
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time

import click

from conftest import wait_for, wb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")
DEPLOYMENT = open(os.path.join(ROOT, "docs", "deployment.md"), encoding="utf-8").read()


class Lines:
    """A process's stderr, line by line, read in a thread."""

    def __init__(self, stream):
        self.q: queue.Queue = queue.Queue()
        self.all: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.q.put(line)

    def until(self, pred, timeout=30.0, what="a line"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            self.all.append(line)
            if pred(line):
                return line
        raise AssertionError(f"no {what} within {timeout:.0f} s; stderr was:\n{''.join(self.all)}")


def hub_run(db, *args, stdout=subprocess.DEVNULL):
    return subprocess.Popen([sys.executable, CLI, "hub", "run", "--db", db, *args], stdout=stdout,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_json_heartbeat_counts_batches_scans_stations_and_backlog(hub_store, broker, make_edge):
    hub = hub_run(hub_store, "--broker", broker.url, "--heartbeat", "0.5", "--log-format", "json",
                  stdout=subprocess.PIPE)
    err = Lines(hub.stderr)
    try:
        beats = []

        def heartbeat(line):
            rec = json.loads(line)                  # every line is one JSON object
            assert {"ts", "level", "logger", "message"} <= set(rec), rec
            if rec.get("event") == "heartbeat":
                beats.append(rec)
                return True
            return False
        first = json.loads(err.until(heartbeat, what="a first heartbeat"))
        said = [json.loads(x) for x in err.all]
        assert any(r["logger"] == "scanhub.hub.run" and r.get("broker") == str(broker.url) for r in said), said
        assert first["scans"] == 0 and first["stations"] == 3 and first["broker_connected"] is True
        edge = make_edge()
        assert edge.config_event.wait(15)
        edge.capture.scan("%KRECEIVE"), edge.capture.scan("%P1002")
        assert all(edge.capture.scan(wb(i)).accepted for i in range(40))
        wait_for(lambda: edge.outbox.counts()["acked"] == 40, what="the scans acknowledged")
        rec = json.loads(err.until(lambda line: heartbeat(line) and beats[-1]["scans"] == 40
                                   and beats[-1]["stations_online"] == 1, what="a heartbeat counting them"))
        assert rec["batches"] >= 1 and rec["stations"] == 3 and rec["stations_stale"] == 0
        assert isinstance(rec["derivation_backlog"], int) and rec["store_error"] is None
        assert "40 scans" in rec["message"] and "1/3 online" in rec["message"]
        # a steady interval: no bursts, no long silences
        err.until(lambda line: heartbeat(line) and len(beats) >= 6, what="more heartbeats")
        times = [time.mktime(time.strptime(b["ts"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + b["ts"][19:23])
                 for b in beats[-4:]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(0.25 <= g <= 2.0 for g in gaps), gaps
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(20)
    assert hub.stdout.read() == "", "with --log-format json everything is a JSON record on stderr"
    stopped = json.loads(err.until(lambda line: "stopped" in line, what="the stop record"))
    assert stopped["scans"] == 40 and stopped["level"] == "INFO"


def test_text_heartbeat_without_verbose_and_more_with_it(hub_store, broker):
    hub = hub_run(hub_store, "--broker", broker.url, "--heartbeat", "0.5")
    err = Lines(hub.stderr)
    try:
        line = err.until(lambda line: "heartbeat:" in line, what="a heartbeat without -v")
        assert re.search(r"scanhub\.hub\.heartbeat INFO heartbeat: 0 batches, 0 scans \(\+0 in 0\.5 s\), 0 rejected; "
                         r"stations 0/3 online, 0 stale; derivation backlog 0 waybills$", line.strip()), line
        assert not any("connected to the broker" in x for x in err.all)
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(20)
    hub = hub_run(hub_store, "--broker", broker.url, "--heartbeat", "0", "-v")
    err = Lines(hub.stderr)
    try:
        err.until(lambda line: "connected to the broker at " in line, what="-v to log the connection")
        time.sleep(1.5)
        assert not any("heartbeat" in x for x in err.all)          # --heartbeat 0: none
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(20)


# ---------------------------------------------------------------- the systemd units in the docs

def units() -> dict[str, configparser.ConfigParser]:
    found = {}
    for block in re.findall(r"```ini\n(.*?)```", DEPLOYMENT, re.S):
        block = textwrap.dedent(block)
        m = re.match(r"# /etc/systemd/system/(\S+)\s", block)
        if not m:
            continue
        body = block.replace("\\\n", " ")            # a continued line is one line to systemd
        cp = configparser.ConfigParser(interpolation=None, strict=True)
        cp.optionxform = str
        cp.read_string(body)
        found[m.group(1)] = cp
    return found


def scanhub_argv(exec_start: str) -> list[str]:
    """The scanhub command line an ExecStart= runs (through `sh -c` too), systemd escapes undone."""
    argv = shlex.split(exec_start.replace("%%", "%").replace("$$", "$"))
    if argv[0].endswith("/sh") and argv[1] == "-c":
        argv = shlex.split(re.sub(r"\$\([^)]*\)", "SUBST", argv[2]))      # $(date …): one word to the shell
        argv = argv[1:] if argv[0] == "exec" else argv
    assert argv[0].endswith("/scanhub"), argv
    return argv[1:]


def check_command(argv: list[str]) -> click.Command:
    """Walk the real command tree along ``argv`` and check every option given exists, takes a value
    when given one, and that a choice is one of its choices."""
    import cli
    cmd, ctx, rest = cli.main, None, list(argv)
    while isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=rest[0], parent=ctx)
        cmd = cmd.get_command(ctx, rest.pop(0))
        assert cmd is not None, f"no command {argv}"
    opts = {name: p for p in cmd.params for name in p.opts}
    i = 0
    while i < len(rest):
        tok = rest[i]
        assert tok.startswith("-"), f"{argv}: unexpected argument {tok!r}"
        p = opts.get(tok)
        assert p is not None, f"`scanhub {' '.join(argv[:2])}` has no option {tok}"
        if getattr(p, "is_flag", False):
            i += 1
            continue
        value = rest[i + 1]
        if isinstance(p.type, click.Choice):
            assert value in p.type.choices, f"{tok} {value}: not one of {p.type.choices}"
        i += 2
    return cmd


def test_the_documented_units_run_real_commands_and_restart():
    found = units()
    assert {"scanhub-hub.service", "scanhub-station.service", "scanhub-backup.service",
            "scanhub-backup.timer"} <= set(found), sorted(found)
    hub, station = found["scanhub-hub.service"], found["scanhub-station.service"]
    argv = scanhub_argv(hub["Service"]["ExecStart"])
    check_command(argv)
    assert argv[:2] == ["hub", "run"] and "--listen" in argv and "--log-format" in argv
    assert hub["Service"]["Restart"] == "on-failure"          # `hub run` exits 1 when its worker dies
    argv = scanhub_argv(station["Service"]["ExecStart"])
    check_command(argv)
    assert argv[:2] == ["edge", "run"] and station["Service"]["Restart"] == "always"
    argv = scanhub_argv(found["scanhub-backup.service"]["Service"]["ExecStart"])
    check_command(argv)
    assert argv[:2] == ["hub", "backup"] and found["scanhub-backup.service"]["Service"]["Type"] == "oneshot"
    assert found["scanhub-backup.timer"]["Timer"]["OnCalendar"]
    # the large deployment's worker template too
    check_command(scanhub_argv(found["scanhub-hub@.service"]["Service"]["ExecStart"]))
    for name, unit in found.items():
        if name.endswith(".service"):
            assert unit["Unit"]["Description"] if unit.has_section("Unit") else True
        if unit.has_section("Install"):
            assert unit["Install"]["WantedBy"] in ("multi-user.target", "timers.target"), name
