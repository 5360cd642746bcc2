"""`scanhub edge run` as a process: it stops on SIGTERM even while the gun is idle, and a second
one on the same station file is refused with a clear message."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import yaml

from conftest import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def station_file(tmp_path, broker) -> str:
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "broker": broker.url,
                                    "outbox": str(tmp_path / "st.db")}))
    return str(path)


def start(cfg, **kw):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "edge", "run", "--config", cfg, "--stdin"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, **kw)


def test_sigterm_stops_an_idle_station_and_a_second_one_is_refused(tmp_path, broker):
    cfg = station_file(tmp_path, broker)
    first = start(cfg)
    try:
        wait_for(lambda: os.path.exists(str(tmp_path / "st.db.lock")) and
                 open(str(tmp_path / "st.db.lock")).read().strip() == str(first.pid),
                 what="the first station to claim its outbox")
        second = start(cfg)
        out, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "in use by another running station" in err and f"pid {first.pid}" in err
        assert "Traceback" not in err
        first.send_signal(signal.SIGTERM)          # stdin stays open: the gun is idle
        assert first.wait(timeout=20) == 0         # (communicate() would close stdin: not idle)
        assert "stopped" in first.stdout.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
