"""``scanhub gun …`` and ``scanhub sim gun``: keys, build, verify, inspect, flash, fleet."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import read_line, sample_store
import yaml
from click.testing import CliRunner

from firmware_images import keys
from hub.cli.gun import gun
from sim.gun_link import SimulatedGun


@pytest.fixture
def env(tmp_path):
    db = sample_store(str(tmp_path / "hub.db"))
    kdir = str(tmp_path / "keys")
    runner = CliRunner()
    res = runner.invoke(gun, ["keys", "init", "--dir", kdir])
    assert res.exit_code == 0, res.output
    return {"db": db, "keys": kdir, "tmp": tmp_path, "run": lambda *a: runner.invoke(gun, list(a))}


def reimport_with_new_staff(tmp_path, db):
    from hub.network.basic_data import import_network
    from hub.schema import connect
    from hub.network.file import load_network

    raw = yaml.safe_load(open("sim/networks/sample.yaml"))
    raw["staff"].append({"code": "1003", "name": "Zhou Yu", "site": "100", "role": "courier"})
    path = tmp_path / "net2.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    connect(db)
    import_network(load_network(str(path)))


def test_keys(env):
    run = env["run"]
    res = run("keys", "init", "--dir", env["keys"])
    assert res.exit_code == 1 and "already exists" in res.output
    res = run("keys", "show", "--dir", env["keys"], "--json")
    shown = json.loads(res.output)
    assert shown["public_key"] == keys.public_raw(keys.load_private(env["keys"])).hex()
    assert oct(os.stat(os.path.join(env["keys"], keys.PRIVATE_FILE)).st_mode & 0o777) == "0o600"
    res = run("keys", "show", "--dir", str(env["tmp"] / "none"))
    assert res.exit_code == 1 and "gun keys init" in res.output


def test_build_verify_inspect_and_changes(env):
    run, tmp = env["run"], env["tmp"]
    out1, out2, out3 = (str(tmp / f"{n}.img") for n in (1, 2, 3))
    res = run("build", "--site", "100", "--out", out1, "--db", env["db"], "--keys", env["keys"])
    assert res.exit_code == 0, res.output
    assert "first image for this site" in res.output and "next_stop" in res.output
    res = run("build", "--site", "100", "--out", out2, "--db", env["db"], "--keys", env["keys"])
    assert "same bytes" in res.output
    assert open(out1, "rb").read() == open(out2, "rb").read()
    reimport_with_new_staff(tmp, env["db"])
    res = run("build", "--site", "100", "--out", out3, "--db", env["db"], "--keys", env["keys"], "--json")
    built = json.loads(res.output)
    assert {"section": "staff", "added": 1, "removed": 0, "changed": 0, "examples": ["+1003"]} in built["changes"]
    assert built["previous_version"] != built["image_version"]

    res = run("verify", out3, "--keys", env["keys"])
    assert res.exit_code == 0 and "OK" in res.output
    data = bytearray(open(out3, "rb").read())
    data[200] ^= 0x01
    (tmp / "bad.img").write_bytes(bytes(data))
    res = run("verify", str(tmp / "bad.img"), "--keys", env["keys"])
    assert res.exit_code == 1 and "REJECTED (checksum)" in res.output
    other = str(tmp / "other-keys")
    run("keys", "init", "--dir", other)
    res = run("verify", out3, "--keys", other)
    assert res.exit_code == 1 and "REJECTED (signature)" in res.output
    res = run("verify", str(tmp / "missing.img"), "--keys", env["keys"])
    assert res.exit_code == 1 and "cannot read" in res.output

    res = run("inspect", out3, "--json")
    info = json.loads(res.output)
    assert info["site"] == "100" and [s["name"] for s in info["sections"]][:2] == ["sites", "staff"]
    res = run("inspect", str(tmp / "nothing-here"))
    assert res.exit_code == 1 and "no such image file or serial port" in res.output
    res = run("build", "--site", "nope", "--db", env["db"], "--keys", env["keys"])
    assert res.exit_code == 1 and "unknown site nope" in res.output


def test_flash_inspect_port_and_fleet(env):
    run, tmp = env["run"], env["tmp"]
    img = str(tmp / "100.img")
    assert run("build", "--site", "100", "--out", img, "--db", env["db"], "--keys", env["keys"]).exit_code == 0
    pub = keys.public_raw(keys.load_public(env["keys"])).hex()
    sim = SimulatedGun(tmp / "gun", gun_id="G-100-1", public_key_hex=pub).start()
    try:
        res = run("flash", sim.port, img, "--db", env["db"])
        assert res.exit_code == 0, res.output
        assert "gun G-100-1 (SG-200, firmware 1.4.2) runs no image" in res.output
        assert "done: gun G-100-1 now runs" in res.output
        res = run("fleet", "--db", env["db"], "--json")
        (row,) = json.loads(res.output)
        assert (row["gun_id"], row["site"], row["status"], row["out_of_date"]) == ("G-100-1", "100", "current", False)

        reimport_with_new_staff(tmp, env["db"])
        res = run("fleet", "--db", env["db"])
        assert "out of date" in res.output and "1 gun(s), 1 out of date" in res.output

        res = run("inspect", sim.port, "--db", env["db"], "--save", str(tmp / "back.img"))
        assert res.exit_code == 0, res.output
        assert "G-100-1" in res.output and "next_stop" in res.output
        assert open(tmp / "back.img", "rb").read() == open(img, "rb").read()
        (row,) = json.loads(run("fleet", "--db", env["db"], "--json").output)
        assert (row["seen_by"], row["status"]) == ("read-back", "out of date")

        img2 = str(tmp / "100b.img")
        run("build", "--site", "100", "--out", img2, "--db", env["db"], "--keys", env["keys"])
        res = run("flash", sim.port, img2, "--db", env["db"], "--json")
        flashed = json.loads(res.output)
        assert "next_stop" in flashed["reused_sections"] and "staff" not in flashed["reused_sections"]
        res = run("fleet", "--db", env["db"], "--outdated")
        assert res.output.strip() == "all 1 gun(s) run their site's current image"
    finally:
        sim.stop()
    res = run("flash", str(tmp / "no-such-port"), img, "--db", env["db"])
    assert res.exit_code == 1 and "no such serial port" in res.output


def test_sim_gun_command_prints_its_pty(env):
    pub = keys.public_raw(keys.load_public(env["keys"])).hex()
    proc = subprocess.Popen([sys.executable, "cli.py", "sim", "gun", "run", "--dir", str(env["tmp"] / "g"),
                             "--id", "G-9", "--pubkey", pub], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        port = read_line(proc.stdout, what="the pty of the gun").strip()
        assert port.startswith("/dev/pts/")
        from firmware_images.flasher import GunLink, open_port

        assert GunLink(open_port(port)).hello().gun_id == "G-9"
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


def test_flash_broken_off_then_resumed_from_the_cli(env):
    run, tmp = env["run"], env["tmp"]
    from sim.gun_networks import generate_slice
    from firmware_images import container

    img = tmp / "big.img"
    img.write_bytes(container.build_image(generate_slice(sites=80, staff=600, rules=800, seed=4),
                                          keys.load_private(env["keys"]), 1))
    pub = keys.public_raw(keys.load_public(env["keys"])).hex()
    sim = SimulatedGun(tmp / "gun", gun_id="G-R", public_key_hex=pub, max_chunk=512).start()
    try:
        sim.cut_after_chunks = 5
        res = run("flash", sim.port, str(img), "--db", env["db"], "--timeout", "0.2")
        assert res.exit_code == 1 and "run the flash again to resume" in res.output
        sim.cut_after_chunks = None
        res = run("flash", sim.port, str(img), "--db", env["db"])
        assert res.exit_code == 0, res.output
        assert "resumed at chunk 5 of" in res.output
        assert sim.storage.active_image() == img.read_bytes()
    finally:
        sim.stop()
