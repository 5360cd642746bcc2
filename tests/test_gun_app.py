"""The simulated gun using its flashed image: PIN login, scan kinds, waybills, dispatch
resolution, blocked sites, and batch uploads that the scanner driver parses."""
from __future__ import annotations

import pytest

from drivers.scanner.batch import BatchDecoder
from firmware_images import container, keys
from firmware_images.flasher import GunLink, open_port
from sim.gun_app import GunApp, LoginRefused, ScanRefused
from sim.gun_link import SimulatedGun
from conftest import KEY, RULES, sample_store

PUB = KEY.public_key()


def wb(body13: str) -> str:
    return RULES.make("std14", body13)


@pytest.fixture(scope="module")
def image():
    """Site 100's image from the hub store of the sample network, with site 101 blocked."""
    import tempfile

    from hub.network import tables as m
    from hub.network.station_config import site_slice
    sample_store(f"{tempfile.mkdtemp()}/hub.db")
    m.Site.update(blocked=True).where(m.Site.code == "101").execute()
    return container.build_image(site_slice("100"), KEY, 1_700_000_000_000)


@pytest.fixture
def app(image, tmp_path):
    return GunApp(image, PUB, "G-100", store_dir=tmp_path / "scans", clock_ms=lambda: 1_717_200_000_000)


def test_login_by_pin_and_lockout(app):
    with pytest.raises(LoginRefused, match="unknown login"):
        app.login("9001", "9001")                   # a user of another site is not in this image
    assert app.login("1002", "2345")["staff"] == "1002"
    for i in range(4):
        with pytest.raises(LoginRefused, match="wrong PIN"):
            app.login("1001", "0000")
    with pytest.raises(LoginRefused, match="locked"):
        app.login("1001", "0000")
    with pytest.raises(LoginRefused, match="locked"):
        app.login("1001", "1234")                   # even the right PIN, until a restart


def test_scan_kinds_waybills_and_dispatch_resolution(app):
    with pytest.raises(ScanRefused, match="log in"):
        app.scan("receive", wb("7000000000001"))
    app.login("1002", "2345")                       # receive, dispatch, arrive, problem, hold
    with pytest.raises(ScanRefused, match="may not do deliver"):
        app.scan("deliver", wb("7000000000001"), courier="1001")
    with pytest.raises(ScanRefused, match="check character"):
        app.scan("receive", "70000000000019" if wb("7000000000001")[-1] != "9" else "70000000000018")
    with pytest.raises(ScanRefused, match="matches no rule"):
        app.scan("receive", "YT12")
    rec = app.scan("receive", wb("7000000000001"), courier="1001")
    assert rec["seq"] == 1 and rec["site"] == "100" and rec["operator"] == "1002"
    assert app.scan("dispatch", wb("7000000000001"), dest="200")["next_site"] == "900"      # table
    assert app.scan("dispatch", wb("7000000000002"), dest="101")["next_site"] == "900"      # route
    assert app.scan("dispatch", wb("7000000000003"), next_site="101")["next_site"] == "101"  # written
    with pytest.raises(ScanRefused, match="unknown destination"):
        app.scan("dispatch", wb("7000000000004"), dest="555")
    with pytest.raises(ScanRefused, match="unknown shift"):
        app.scan("dispatch", wb("7000000000004"), dest="200", shift="XX")


def test_arrivals_of_blocked_sites_parcels_are_refused(app):
    app.login("1002", "2345")
    blocked = wb("7000010000001")                   # issued to site 101 (blocked)
    assert app.issuing_site(blocked) == "101"
    with pytest.raises(ScanRefused, match="blocked site 101"):
        app.scan("arrive", blocked, weight_g=1200)
    assert app.scan("receive", blocked)["kind"] == "receive"   # only arrivals are refused
    ok = app.scan("arrive", wb("7000020000001"), weight_g=1200, prev_site="900")
    assert ok["weight_g"] == 1200


def test_batch_upload_is_parsed_by_the_scanner_driver_and_survives_restart(app, image, tmp_path):
    app.login("1002", "2345")
    app.scan("receive", wb("7000000000011"), courier="1001")
    app.scan("dispatch", wb("7000000000011"), dest="200", shift="HZ-SH-08")
    again = GunApp(image, PUB, "G-100", store_dir=tmp_path / "scans", clock_ms=lambda: 1_717_200_000_500)
    assert [r["seq"] for r in again.records] == [1, 2]
    again.login("1001", "1234")                     # receive, deliver, sign
    again.scan("sign", wb("7000000000011"), signer="Zhang San")
    upload = again.upload()
    reads = BatchDecoder("cradle").feed(upload)
    assert [r.record for r in reads] == again.records
    assert [r.record["seq"] for r in reads] == [1, 2, 3]
    assert reads[1].record["next_site"] == "900" and reads[1].record["shift"] == "HZ-SH-08"
    assert upload.startswith(f"~SHB1 H gun=G-100 n=3 img={again.info.image_version}~".encode())
    again.confirm_upload(3)
    assert again.records == [] and again.scan("sign", wb("7000000000012"), signer="Li")["seq"] == 4


def test_flashed_gun_runs_its_active_image(image, tmp_path):
    gun = SimulatedGun(tmp_path / "gun", gun_id="G-100", public_key_hex=keys.public_raw(PUB).hex()).start()
    try:
        GunLink(open_port(gun.port)).flash(image)
        app = GunApp(gun.storage.active_image(), gun.storage.public_key, gun.storage.identity["gun_id"])
        app.login("1002", "2345")
        assert app.scan("dispatch", wb("7000000000021"), dest="201")["next_site"] == "900"
    finally:
        gun.stop()
