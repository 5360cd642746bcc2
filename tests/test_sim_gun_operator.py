"""``scanhub sim gun login / scan / scans / upload``: the simulated gun used from the CLI, from a
PIN login to its batch upload taken in by a station's real device wiring and capture."""
from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
from click.testing import CliRunner

from conftest import KEY, sample_store, wait_for, wb
from firmware_images import container, keys
from firmware_images.flasher import GunLink, open_port
from sim.gun_commands import gun
from sim.gun_link import SimulatedGun


@pytest.fixture
def flashed(tmp_path):
    """A simulated gun's directory holding site 100's image (sample network), no longer running."""
    from hub.network.station_config import site_slice
    sample_store(str(tmp_path / "hub.db"))
    image = container.build_image(site_slice("100"), KEY, 1_780_000_000_000)
    d = tmp_path / "gun"
    with SimulatedGun(d, gun_id="G-100-7", public_key_hex=keys.public_raw(KEY.public_key()).hex()) as sim:
        port = open_port(sim.port)
        try:
            GunLink(port).flash(image)
        finally:
            port.close()
    return str(d)


def run(*args):
    return CliRunner().invoke(gun, list(args))


def test_login_scan_and_refusals(flashed):
    d = flashed
    res = run("scan", "--dir", d, "receive", wb(1))
    assert res.exit_code == 1 and "refused: log in first" in res.output
    res = run("login", "--dir", d, "1002", "--pin", "9999")
    assert res.exit_code == 1 and "wrong PIN for 1002" in res.output
    res = run("login", "--dir", d, "1002", "--pin", "2345")
    assert res.exit_code == 0 and "logged in 1002" in res.output, res.output
    res = run("scan", "--dir", d, "receive", wb(1))                      # a new command: still logged in
    assert res.exit_code == 0 and "stored #1: receive" in res.output, res.output
    res = run("scan", "--dir", d, "dispatch", wb(1), "--dest", "200")
    assert res.exit_code == 0 and "to next site 900" in res.output, res.output
    res = run("scan", "--dir", d, "deliver", wb(2), "--courier", "1001")
    assert res.exit_code == 1 and "1002 may not do deliver scans" in res.output
    bad = wb(3)[:-1] + str((int(wb(3)[-1]) + 1) % 10)
    res = run("scan", "--dir", d, "receive", bad)
    assert res.exit_code == 1 and "check character" in res.output
    res = run("scans", "--dir", d)
    assert "2 scan(s) waiting" in res.output
    assert run("logout", "--dir", d).exit_code == 0
    res = run("scan", "--dir", d, "receive", wb(4))
    assert res.exit_code == 1 and "log in first" in res.output


def test_wrong_pins_lock_the_login_until_the_gun_restarts(flashed):
    from sim.gun_operator import reboot
    for _ in range(5):
        assert run("login", "--dir", flashed, "1001", "--pin", "0000").exit_code == 1
    res = run("login", "--dir", flashed, "1001", "--pin", "1234")
    assert res.exit_code == 1 and "locked" in res.output
    reboot(flashed)                                      # what `sim gun run` does as it starts
    assert run("login", "--dir", flashed, "1001", "--pin", "1234").exit_code == 0


def test_a_gun_without_an_image_says_how_to_get_one(tmp_path):
    with SimulatedGun(tmp_path / "g", public_key_hex=keys.public_raw(KEY.public_key()).hex()):
        pass
    res = run("login", "--dir", str(tmp_path / "g"), "1002", "--pin", "2345")
    assert res.exit_code == 1 and "has no image yet" in res.output and "gun flash" in res.output
    res = run("scans", "--dir", str(tmp_path / "nothing"))
    assert res.exit_code == 1 and "no simulated gun here" in res.output


def test_upload_to_a_station(flashed, tmp_path):
    """The batch goes through a pty to the station's own device wiring (``edge.devices``) and
    capture; the station's acknowledgement empties the gun."""
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.devices import open_devices
    from edge.outbox import Outbox
    from hub.network.station_config import site_slice

    assert run("login", "--dir", flashed, "1002", "--pin", "2345").exit_code == 0
    assert run("scan", "--dir", flashed, "receive", wb(21)).exit_code == 0
    assert run("scan", "--dir", flashed, "dispatch", wb(21), "--dest", "200").exit_code == 0

    link = str(tmp_path / "cradle")
    proc = subprocess.Popen([sys.executable, "cli.py", "sim", "gun", "upload", "--dir", flashed,
                             "--link", link, "--wait", "60", "--every", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    box = Outbox(str(tmp_path / "st.db"))
    station = types.SimpleNamespace(devices=[], capture=Capture(
        "st-100-1", "100", box, StationClock(box.get_meta, box.set_meta), site_slice("100")))
    verdicts = []
    try:
        wait_for(lambda: os.path.exists(link), what="the cradle's pty")
        open_devices(station, [{"type": "scanner", "protocol": "batch", "port": link, "id": "cradle-1"}],
                     on_verdict=lambda dev, text, v: verdicts.append(v))
        out, err = proc.communicate(timeout=60)
    finally:
        for dev in station.devices:
            dev.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "the station acknowledged 2 scan(s); 0 left on the gun" in out
    assert [v.outcome for v in verdicts[:2]] == ["accepted", "accepted"], verdicts
    kinds = sorted(s["kind"] for s in box.scans())
    assert kinds == ["dispatch", "receive"]
    box.close()
    assert "no scans waiting" in run("scans", "--dir", flashed).output


def test_upload_without_a_station_keeps_the_scans(flashed, tmp_path):
    assert run("login", "--dir", flashed, "1002", "--pin", "2345").exit_code == 0
    assert run("scan", "--dir", flashed, "receive", wb(22)).exit_code == 0
    res = run("upload", "--dir", flashed, "--link", str(tmp_path / "c"), "--wait", "0.3", "--every", "0.1")
    assert res.exit_code == 1 and "no acknowledgement" in res.output and "stay on the gun" in res.output
    assert "1 scan(s) waiting" in run("scans", "--dir", flashed).output
