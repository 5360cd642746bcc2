"""The e1 command line: scanhub e1 status/config/trace and scanhub sim e1."""
from __future__ import annotations

import json

from click.testing import CliRunner

from cli import main

TRUNKS = """\
e1:
  spans:
    - {span: 1, name: CT-1, protocol: r2-cn, timing: 1}
    - {span: 2, name: CU-PRI, protocol: pri-cpe, timing: 2}
"""

PROC_1 = ('Span 1: TE4/0/1 "T4XXP (PCI) Card 0 Span 1" (MASTER) HDB3//CRC4 YELLOW \n'
          "\tCRC4 error count: 4\n\n"
          "\t   1 TE4/0/1/1 CAS (In use) \n"
          "\t   2 TE4/0/1/2 CAS \n")


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_status_simulated_json_with_a_fault():
    r = run("e1", "status", "--backend", "sim", "--fault", "cut", "--json")
    assert r.exit_code == 3, r.output                   # an alarm: monitoring scripts see it
    spans = [json.loads(line) for line in r.output.splitlines()]
    assert spans[0]["alarms"] == ["RAI"] and spans[0]["colour"] == "YELLOW"
    assert spans[1]["alarms"] == ["LOS"] and spans[1]["colour"] == "RED"


def test_status_from_proc_dahdi_files(tmp_path):
    (tmp_path / "1").write_text(PROC_1)
    r = run("e1", "status", "--proc-dir", str(tmp_path))
    assert r.exit_code == 3, r.output
    assert "span 1 TE4/0/1: CAS/HDB3/CRC4 YELLOW (RAI)" in r.output
    assert "crc4_errors=4" in r.output and "in-use" in r.output
    r = run("e1", "status", "--proc-dir", str(tmp_path / "none"))
    assert r.exit_code == 1 and "no spans" in r.output


def test_status_from_a_saved_dahdi_scan(tmp_path):
    from test_e1_dahdi import DAHDI_SCAN
    path = tmp_path / "scan.txt"
    path.write_text(DAHDI_SCAN)
    r = run("e1", "status", "--scan", str(path))
    assert r.exit_code == 3, r.output
    assert "span 2 TE4/0/2: digital-E1 CAS/CRC4 HDB3 RED/LFA channels 32+31" in r.output
    r = run("e1", "status", "--scan", str(path), "--span", "3", "--json")
    assert json.loads(r.output)["configured"] is False


def test_config_generation(tmp_path):
    path = tmp_path / "trunks.yaml"
    path.write_text(TRUNKS)
    r = run("e1", "config", "--gen", "dahdi", "--trunks", str(path))
    assert r.exit_code == 0, r.output
    assert "span=1,1,0,cas,hdb3,crc4" in r.output and "hardhdlc=47" in r.output
    assert "signalling=mfcr2" in r.output
    r = run("e1", "config", "--gen", "dahdi", "--trunks", str(path), "--out", str(tmp_path / "etc"))
    assert (tmp_path / "etc" / "system.conf").read_text().startswith("# /etc/dahdi/system.conf")
    path.write_text("e1: {spans: [{span: 1, protocol: h323}]}\n")
    r = run("e1", "config", "--gen", "dahdi", "--trunks", str(path))
    assert r.exit_code == 1 and "protocol" in r.output and "Traceback" not in r.output


def test_trace_simulated_r2_and_pri():
    r = run("e1", "trace", "2/5", "--backend", "sim", "--seconds", "5")
    assert r.exit_code == 0, r.output
    assert "rx cas   0011 seize" in r.output and "A6 send KA" in r.output and "B1 accept" in r.output
    r = run("e1", "trace", "1/7", "--backend", "sim", "--protocol", "pri", "--seconds", "3", "--json")
    recs = [json.loads(line) for line in r.output.splitlines()]
    assert recs[0]["value"].startswith("SETUP") and recs[-1]["value"].startswith("RELEASE COMPLETE")
    assert run("e1", "trace", "1-5", "--backend", "sim").exit_code == 1
    assert "not a voice timeslot" in run("e1", "trace", "1/16", "--backend", "sim").output


def test_sim_e1_places_calls_and_reports():
    r = run("sim", "e1", "--calls", "4", "--protocol", "pri", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["placed"] == 4 and s["answered"] == 4 and s["failed"] == 0 and s["setup_ms"]["min"] > 0
    r = run("sim", "e1", "--calls", "2", "--protocol", "r2-cn")
    assert "answered 2, failed 0" in r.output and "setup time" in r.output
    r = run("sim", "e1", "--calls", "2", "--concurrent", "40")
    assert r.exit_code == 1 and "1..30" in r.output


def test_status_exit_status_says_whether_a_span_has_an_alarm():
    assert run("e1", "status", "--backend", "sim").exit_code == 0
    r = run("e1", "status", "--backend", "sim", "--fault", "ais")
    assert r.exit_code == 3 and "AIS" in r.output
    r = run("e1", "status", "--backend", "sim", "--fault", "corrupt", "--span", "1")
    assert r.exit_code == (3 if "(" in r.output.splitlines()[0] else 0), r.output


def test_a_closed_pipe_ends_a_trace_quietly():
    """`scanhub e1 trace … | head`: no traceback and no error line when the reader has gone away
    (here it is gone before the first line, so every write meets a closed pipe)."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for args in (["e1", "trace", "1/5", "--backend", "sim"], ["e1", "status", "--backend", "sim"]):
        r, w = os.pipe()
        os.close(r)
        proc = subprocess.run([sys.executable, "cli.py", *args], cwd=root, stdout=w, stderr=subprocess.PIPE,
                              timeout=60)
        os.close(w)
        assert proc.stderr.decode() == "", (args, proc.stderr)
