"""``scanhub scanner …`` and ``scanhub sim scanner`` through click's CliRunner and a subprocess."""
import json
import os
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from cli import main
from drivers.port import owner_of
from sim.scanner_sim import SimScanner
from conftest import read_line, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def feed_when_connected(gun, texts, symbology="code128"):
    def run():
        wait_for(lambda: owner_of(gun.path) is not None and owner_of(gun.path).state == "connected",
                 what="listener connected")
        for t in texts:
            gun.send_read(t, symbology)
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@pytest.fixture
def gun(request):
    g = SimScanner(getattr(request, "param", "serial"))
    yield g
    g.close()


@pytest.mark.parametrize("gun", ["ssi"], indirect=True)
def test_listen_json_prints_one_object_per_read(gun):
    th = feed_when_connected(gun, ["YT1234567890123", "6901234567892"], "ean13")
    res = CliRunner().invoke(main, ["scanner", "listen", gun.path, "--protocol", "ssi", "--json",
                                    "--count", "2", "--seconds", "10", "--id", "gun-9"])
    th.join(5)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [(r["text"], r["symbology"], r["device"]) for r in rows] == \
        [("YT1234567890123", "ean13", "gun-9"), ("6901234567892", "ean13", "gun-9")]


def test_listen_plain_with_decoder_options(gun):
    gun.frame_options = {"prefix": b"\x02", "suffix": b"\x03"}
    th = feed_when_connected(gun, ["ABC"])
    res = CliRunner().invoke(main, ["scanner", "listen", gun.path, "-o", r"prefix=\x02", "-o", r"suffix=\x03",
                                    "--count", "1", "--seconds", "10"])
    th.join(5)
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["scanner", "-", "ABC"]


def test_listen_unknown_protocol_and_bad_option_are_one_line_errors(gun):
    res = CliRunner().invoke(main, ["scanner", "listen", gun.path, "--protocol", "laser"])
    assert res.exit_code == 2 and "unknown protocol 'laser'" in res.output
    res = CliRunner().invoke(main, ["scanner", "listen", gun.path, "-o", "colour=red"])
    assert res.exit_code == 1 and "Error: serial:" in res.output and "colour" in res.output
    assert "Traceback" not in res.output


def test_listen_on_a_missing_port_says_why_and_gives_up(tmp_path):
    res = CliRunner().invoke(main, ["scanner", "listen", str(tmp_path / "nothing"), "--count", "1",
                                    "--seconds", "0.5"])
    assert res.exit_code == 1
    assert "waiting for" in res.output and "0 of 1 reads" in res.output


@pytest.mark.parametrize("gun", ["honeywell"], indirect=True)
def test_config_get_and_set(gun):
    res = CliRunner().invoke(main, ["scanner", "config", gun.path, "--set", "232BAD=5", "--get", "232BAD",
                                    "--get", "cbrena", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"232BAD": "5", "CBRENA": "1"}
    res = CliRunner().invoke(main, ["scanner", "config", gun.path, "--set", "232BAD=Q"])
    assert res.exit_code == 1 and "out of range for 232BAD" in res.output
    res = CliRunner().invoke(main, ["scanner", "config", gun.path])
    assert res.exit_code == 2


def test_protocols_lists_every_protocol():
    res = CliRunner().invoke(main, ["scanner", "protocols"])
    assert [line.split()[0] for line in res.output.splitlines()] == \
        ["serial", "hid-keyboard", "hid-pos", "ssi", "honeywell", "batch"]


@pytest.mark.parametrize("protocol", ["ssi", "hid-keyboard"])
def test_sim_scanner_command_drives_a_real_driver(protocol):
    from drivers.scanner import open_scanner
    proc = subprocess.Popen([sys.executable, "cli.py", "sim", "scanner", "--protocol", protocol, "-q",
                             "--linger", "0"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        path = read_line(proc.stdout, what="the pty of the gun").strip()
        assert path.startswith("/dev/pts/" if protocol == "ssi" else "hidraw://")
        got = []
        dev = open_scanner(path, protocol, on_read=got.append, backoff_min_s=0.02, backoff_max_s=0.2)
        try:
            assert dev.wait_connected(5)
            proc.stdin.write("YT1234567890123\nean13 6901234567892\n")
            proc.stdin.flush()
            wait_for(lambda: len(got) == 2, what="two reads from the sim process")
            assert [r.text for r in got] == ["YT1234567890123", "6901234567892"]
            if protocol == "ssi":
                assert [r.symbology for r in got] == ["code128", "ean13"]
        finally:
            dev.close()
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert proc.returncode == 0
