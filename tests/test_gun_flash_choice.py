"""``scanhub gun flash``: which image (several named, --site), warnings that ask before flashing
another site's or an out-of-date image, and a gun that goes away mid-flash."""
from __future__ import annotations

import os
import threading

import pytest
from click.testing import CliRunner

from conftest import sample_store, wait_for
from firmware_images import container, keys
from hub.cli.gun import gun
from sim.gun_link import SimulatedGun


@pytest.fixture
def env(tmp_path, monkeypatch):
    db = sample_store(str(tmp_path / "hub.db"))
    kdir = str(tmp_path / "keys")
    runner = CliRunner()
    assert runner.invoke(gun, ["keys", "init", "--dir", kdir]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    pub = keys.public_raw(keys.load_public(kdir)).hex()

    def run(*a, input=None):
        return runner.invoke(gun, list(a), input=input)
    return {"db": db, "keys": kdir, "tmp": tmp_path, "run": run, "pub": pub}


def build(env, site, at_ms=None, out=None):
    """A signed image of ``site`` built at ``at_ms`` (the time in its header)."""
    from hub.network.station_config import site_slice
    from hub.schema import connect
    connect(env["db"])
    data = container.build_image(site_slice(site), keys.load_private(env["keys"]), at_ms)
    info = container.parse_image(data)
    path = env["tmp"] / (out or f"gun-{site}-{info.image_version}-{at_ms}.img")
    path.write_bytes(data)
    return str(path), info


def test_several_images_flash_the_newest_and_site_takes_the_newest_here(env):
    run = env["run"]
    old, _ = build(env, "100", 1_780_000_000_000)
    new, _ = build(env, "100", 1_780_000_100_000)
    with SimulatedGun(env["tmp"] / "g", gun_id="G-1", public_key_hex=env["pub"]) as sim:
        res = run("flash", sim.port, old, new, "--db", env["db"])      # what gun-100-*.img gives
        assert res.exit_code == 0, res.output
        assert f"newest of 2 images: {new}" in res.output
        assert sim.storage.active_image() == open(new, "rb").read()

        newest, _ = build(env, "100", 1_780_000_200_000)
        res = run("flash", sim.port, "--site", "100", "--db", env["db"])
        assert res.exit_code == 0, res.output
        assert f"newest of 3 images: {os.path.join('.', os.path.basename(newest))}" in res.output \
            or f"newest of 3 images: {os.path.basename(newest)}" in res.output
        assert sim.storage.active_image() == open(newest, "rb").read()

    res = run("flash", sim.port, "--site", "200")
    assert res.exit_code == 1 and "no image gun-200-*.img" in res.output and "gun build --site 200" in res.output
    res = run("flash", sim.port)
    assert res.exit_code == 1 and "name an IMAGE, or give --site" in res.output
    other, _ = build(env, "200", 1_780_000_000_000)
    res = run("flash", sim.port, old, other)
    assert res.exit_code == 1 and "for sites 100, 200" in res.output


def test_another_sites_image_warns_and_asks(env):
    run = env["run"]
    img100, _ = build(env, "100", 1_780_000_000_000)
    img200, _ = build(env, "200", 1_780_000_000_000)
    with SimulatedGun(env["tmp"] / "g", gun_id="G-2", public_key_hex=env["pub"]) as sim:
        assert run("flash", sim.port, img100, "--db", env["db"]).exit_code == 0
        res = run("flash", sim.port, img200, "--db", env["db"], input="n\n")
        assert res.exit_code == 1
        assert "gun G-2 is set up for site 100" in res.output and "is for site 200" in res.output
        assert sim.storage.active_image() == open(img100, "rb").read()     # nothing changed
        res = run("flash", sim.port, img200, "--db", env["db"], input="y\n")
        assert res.exit_code == 0, res.output
        assert sim.storage.active_image() == open(img200, "rb").read()
        res = run("flash", sim.port, img100, "--db", env["db"], "--yes")
        assert res.exit_code == 0 and "warning: gun G-2 is set up for site 200" in res.output


def test_an_out_of_date_image_warns_and_asks(env, tmp_path):
    import yaml
    from hub.network.basic_data import import_network
    from hub.network.file import load_network
    from hub.schema import connect

    run = env["run"]
    stale, info = build(env, "100", 1_780_000_000_000)
    raw = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "sim", "networks", "sample.yaml")))
    raw["staff"].append({"code": "1003", "name": "Zhou Yu", "site": "100", "role": "courier"})
    (tmp_path / "net2.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    connect(env["db"])
    import_network(load_network(str(tmp_path / "net2.yaml")))
    with SimulatedGun(env["tmp"] / "g", gun_id="G-3", public_key_hex=env["pub"]) as sim:
        res = run("flash", sim.port, stale, "--db", env["db"], input="\n")    # default: no
        assert res.exit_code == 1
        assert f"({info.image_version}) is out of date" in res.output and "gun build --site 100" in res.output
        assert sim.storage.active_image() is None
        fresh, _ = build(env, "100", 1_780_000_100_000)
        res = run("flash", sim.port, fresh, "--db", env["db"])
        assert res.exit_code == 0 and "warning" not in res.output, res.output


def test_a_gun_that_goes_away_mid_flash_says_run_again_to_resume(env):
    from sim.gun_networks import generate_slice
    img = env["tmp"] / "big.img"
    img.write_bytes(container.build_image(generate_slice(sites=80, staff=600, rules=800, seed=4),
                                          keys.load_private(env["keys"]), 1))
    # paced like a slow cradle line (about 5 s for the image), so the cable is pulled mid-transfer
    sim = SimulatedGun(env["tmp"] / "g", gun_id="G-4", public_key_hex=env["pub"], max_chunk=512,
                       baud=19_200).start()

    def pull_the_cable():
        wait_for(lambda: sim.chunks_received >= 3, what="a few chunks")
        sim.stop()
    t = threading.Thread(target=pull_the_cable)
    t.start()
    try:
        res = env["run"]("flash", sim.port, str(img), "--db", env["db"])
    finally:
        t.join()
        sim.stop()
    assert res.exit_code == 1
    assert "the gun went away during the flash" in res.output and "run the flash again to resume" in res.output
    for raw in ("readiness to read", "Errno", "Input/output error", "returned no data"):
        assert raw not in res.output, res.output
    # and it does resume, on the same gun memory
    with SimulatedGun(env["tmp"] / "g", public_key_hex=env["pub"], max_chunk=512) as again:
        res = env["run"]("flash", again.port, str(img), "--db", env["db"])
        assert res.exit_code == 0, res.output
        assert "resumed at chunk" in res.output
        assert again.storage.active_image() == img.read_bytes()
