"""``scanhub pbx`` and ``scanhub call`` as a user runs them: the service as a process, SIPp calling
through it, then the CDR, the call's events and the live view from the command line."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import yaml
from click.testing import CliRunner

from cli import main
from conftest import read_line, wait_for
from sip_peers import Sipp, free_udp_port
from test_telephony_sip import PASSWORD, config, register

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pbx_check_reports_every_problem(tmp_path):
    bad = tmp_path / "pbx.yaml"
    bad.write_text("trunks: [{name: x, kind: pots}]\ndialplan: [{number: '1', to: 'seat 9'}]\n")
    res = CliRunner().invoke(main, ["pbx", "check", str(bad)])
    assert res.exit_code == 1
    assert "2 problem(s)" in res.output and "trunks[0] x: kind must be sip or e1" in res.output
    assert "dialplan[0]: to names seat 9" in res.output
    res = CliRunner().invoke(main, ["pbx", "check", os.path.join(ROOT, "sim", "pbx", "sample.yaml"), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["seats"] == 2


def test_pbx_run_then_the_call_commands(tmp_path):
    db = str(tmp_path / "hub.db")
    assert CliRunner().invoke(main, ["hub", "init", "--db", db]).exit_code == 0
    trunk_port, sip_port = free_udp_port(), free_udp_port()
    from sip_peers import free_udp_range
    doc = config(trunk_port, sip_port, free_udp_range(100))
    doc["recording"] = {"dir": str(tmp_path / "rec"), "default": True}
    (tmp_path / "pbx.yaml").write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "pbx", "run", str(tmp_path / "pbx.yaml"),
                             "--db", db], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert "pbx running: SIP on 127.0.0.1:%d" % sip_port in read_line(proc.stderr, 20, "pbx running")

        class Where:
            address = ("127.0.0.1", sip_port)

            @staticmethod
            def snapshot():
                return {"seats": [{"seat": r["seat"]} for r in active()["seats"]]}

        def active():
            res = CliRunner().invoke(main, ["call", "active", "--db", db, "--json"])
            assert res.exit_code == 0, res.output
            return json.loads(res.output)

        seat_port = register(tmp_path, Where, "8001", PASSWORD)
        seat = Sipp(tmp_path, "seat.xml", f"127.0.0.1:{sip_port}", port=seat_port, args=["-m", "1"]).listening()
        caller = Sipp(tmp_path, "caller.xml", f"127.0.0.1:{sip_port}", port=trunk_port,
                      args=["-s", "8001", "-d", "3000", "-m", "1"]).start()
        legs = wait_for(lambda: [l for l in active()["legs"] if l["state"] == "answered"] if
                        len([l for l in active()["legs"] if l["state"] == "answered"]) == 2 else None,
                        20, "both legs answered in `call active`")
        assert {l["trunk"] for l in legs} == {"carrier", None} and {l["seat"] for l in legs} == {None, "8001"}
        caller.expect_success()
        seat.expect_success()
        assert "-> 8001: answered" in read_line(proc.stderr, 20, "the call's end line")
    finally:
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0
    run = CliRunner()
    res = run.invoke(main, ["call", "list", "--db", db, "--json"])
    (c,) = json.loads(res.output)
    assert c["disposition"] == "answered" and c["caller"] == "13912345678" and c["recording"]
    res = run.invoke(main, ["call", "cdr", "--db", db])
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert len(rows) == 1 and rows[0]["disposition"] == "answered" and rows[0]["trunk"] == "carrier"
    res = run.invoke(main, ["call", "show", c["call_id"][:8], "--db", db])
    assert res.exit_code == 0 and "bridged" in res.output and "call-end" in res.output
    res = run.invoke(main, ["call", "show", "nosuchcall", "--db", db])
    assert res.exit_code == 1 and "no call 'nosuchcall'" in res.output
    res = run.invoke(main, ["call", "recordings", "--db", db, "--number", "8001", "--export", str(tmp_path / "out"),
                            "--json"])
    (r,) = json.loads(res.stdout)
    assert open(r["exported"], "rb").read() == open(r["path"], "rb").read()
    assert r["caller"] == "13912345678" and r["callee"] == "8001"
    assert json.loads(run.invoke(main, ["call", "active", "--db", db, "--json"]).output)["legs"] == []


def test_the_doc_lists_every_cdr_field_and_dial_plan_cause():
    import re
    from hub.telephony.cdr import CDR_COLUMNS
    from hub.telephony.config import HANGUP_CAUSES, TARGET_KINDS
    from hub.telephony.tables import CallRecord
    doc = open(os.path.join(ROOT, "docs", "telephony.md"), encoding="utf-8").read()
    section = doc.split("## CDR fields", 1)[1].split("\n## ", 1)[0]
    fields = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert fields == CDR_COLUMNS + ["origin", "legs", "worker"]
    assert set(fields) == set(CallRecord._meta.fields)
    for cause, status in HANGUP_CAUSES.items():
        assert f"`{cause}` ({status})" in doc.replace("\n", " "), cause
    for kind in TARGET_KINDS:
        assert f"`{kind} " in doc, kind


def test_a_standard_error_nobody_reads_never_stops_the_calls(tmp_path):
    """``pbx run`` prints a line per call on standard error.  Started with a pipe nobody reads
    (as a careless supervisor or a bench does), the pipe fills after some 1,200 calls (64 KB); the calls
    must go on (they once stopped there: the line was written on the event loop)."""
    db = str(tmp_path / "hub.db")
    assert CliRunner().invoke(main, ["hub", "init", "--db", db]).exit_code == 0
    trunk_port, sip_port = free_udp_port(), free_udp_port()
    from sip_peers import free_udp_range
    lo = free_udp_range(400)
    doc = config(trunk_port, sip_port, lo)
    doc["sip"]["media_ports"] = f"{lo}-{lo + 399}"
    (tmp_path / "pbx.yaml").write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "pbx", "run", str(tmp_path / "pbx.yaml"),
                             "--db", db], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert "pbx running" in read_line(proc.stderr, 20, "pbx running")      # and never read again

        class Where:
            address = ("127.0.0.1", sip_port)

            @staticmethod
            def snapshot():
                res = CliRunner().invoke(main, ["call", "active", "--db", db, "--json"])
                return {"seats": [{"seat": r["seat"]} for r in json.loads(res.output)["seats"]]}

        from sip_peers import need_sipp, port_taken
        seat_port = register(tmp_path, Where, "8001", PASSWORD)
        base = [need_sipp(), "-i", "127.0.0.1", "-nostdin", "-timeout", "120s", "-timeout_error"]
        seat = subprocess.Popen(base + ["-sn", "uas", "-p", str(seat_port), f"127.0.0.1:{sip_port}"], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_taken(seat_port), 10, "the SIPp seat to bind")
        try:
            rc = subprocess.call(base + ["-sn", "uac", "-s", "8001", "-m", "1600", "-r", "500", "-l", "40",
                                         "-p", str(trunk_port), f"127.0.0.1:{sip_port}"], cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
        finally:
            seat.terminate()
            seat.wait(10)
        assert rc == 0, "SIPp's 1,600 calls did not all succeed: the PBX stopped answering"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        finally:
            proc.kill()
    assert proc.returncode == 0, "the PBX did not stop on SIGTERM"
