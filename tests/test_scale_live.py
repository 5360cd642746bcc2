"""The real drivers against the simulators over pseudo-terminals (and a fake hidapi device):
live streams, command protocols, unplug/replug, concurrent scales, one owner per port, stability."""
import threading
import time

import pytest

from drivers.port import PortBusy
from drivers.scale import Unsupported, open_scale
from drivers.scale.hid_pos import UNITS
from sim.scale_devices import SIM_PROTOCOLS, SimScale, hid_report
from conftest import wait_for



@pytest.fixture
def sims():
    made = []

    def make(protocol, **kw):
        kw.setdefault("settle_s", 0.15)
        s = SimScale(protocol, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture
def scales():
    made = []

    def make(*a, **kw):
        sc = open_scale(*a, **kw)
        made.append(sc)
        return sc
    yield make
    for sc in made:
        sc.close()


@pytest.mark.parametrize("protocol", SIM_PROTOCOLS)
def test_live_stable_weight(protocol, sims, scales):
    sim = sims(protocol)
    sim.set_weight(1234, settle=False)
    sc = scales(sim.path, protocol)
    r = sc.stable_weight(5)
    assert r is not None and r.grams == 1234 and r.stable
    sim.set_weight(20_500)
    r = sc.stable_weight(5)
    assert r is not None and r.grams == 20_500
    st = sc.status()
    assert st["state"] == "connected" and st["bad_frames"] == 0 and st["protocol"] == protocol


def test_same_weight_twice_is_two_parcels(sims, scales):
    sim = sims("toledo-continuous")
    sim.set_weight(1500, settle=False)
    sc = scales(sim.path, "toledo-continuous")
    first = sc.stable_weight(5)
    sim.set_weight(0)
    assert wait_for(lambda: sc.latest() is not None and sc.latest().grams == 0 and sc.latest().stable)
    sim.set_weight(1500)
    second = sc.stable_weight(5)
    assert first.grams == second.grams == 1500 and second.time_ms > first.time_ms
    # a stable reading waited for is always newer than the call
    t0 = int(time.time() * 1000)
    assert sc.stable_weight(5).time_ms >= t0


def test_stable_weight_times_out_while_in_motion(sims, scales):
    sim = sims("xk3190", settle_s=60)
    sc = scales(sim.path, "xk3190")
    sim.set_weight(800)
    assert sc.stable_weight(0.6) is None
    assert sc.latest() is not None and not sc.latest().stable


def test_unplug_and_replug(tmp_path, sims, scales):
    link = str(tmp_path / "ttyScale")
    sim = sims("xk3190-a12", link=link)
    sim.set_weight(2000, settle=False)
    sc = scales(link, "xk3190-a12", backoff_min_s=0.02, backoff_max_s=0.2)
    assert sc.stable_weight(5).grams == 2000
    sim.unplug()
    assert wait_for(lambda: sc.status()["state"] == "reconnecting")
    assert sc.latest() is None                       # nothing stale while the scale is away
    assert sc.stable_weight(0.3) is None
    sim.set_weight(3000, settle=False)
    sim.replug()
    r = sc.stable_weight(5)
    assert r is not None and r.grams == 3000
    st = sc.status()
    assert st["state"] == "connected" and st["reconnects"] == 1 and st["last_error"]


def test_concurrent_scales(sims, scales):
    protocols = ["toledo-continuous", "mt-sics", "xk3190-cmd", "modbus"]
    pairs = []
    for i, p in enumerate(protocols):
        sim = sims(p)
        sim.set_weight(1000 * (i + 1), settle=False)
        pairs.append((sim, scales(sim.path, p)))
    results = {}

    def read(i, sc):
        results[i] = sc.stable_weight(5)
    threads = [threading.Thread(target=read, args=(i, sc)) for i, (_, sc) in enumerate(pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r.grams for i, r in results.items()} == {0: 1000, 1: 2000, 2: 3000, 3: 4000}


def test_one_owner_per_port(sims, scales):
    sim = sims("xk3190")
    scales(sim.path, "xk3190")
    with pytest.raises(PortBusy):
        open_scale(sim.path, "xk3190-plain")


def test_zero_and_tare_through_the_wire(sims, scales):
    # Toledo 8217: Z zeroes the platform
    sim = sims("toledo-8217")
    sim.set_weight(300, settle=False)
    sc = scales(sim.path, "toledo-8217")
    assert sc.stable_weight(5).grams == 300
    sc.zero()
    assert wait_for(lambda: sim.zero_g == 300)
    assert sc.stable_weight(5).grams == 0
    # MT-SICS: T tares, readings become net with the tare reported
    sim2 = sims("mt-sics")
    sim2.set_weight(250, settle=False)
    sc2 = scales(sim2.path, "mt-sics")
    assert sc2.stable_weight(5).grams == 250
    sc2.tare()
    assert wait_for(lambda: sc2.latest() is not None and sc2.latest().net and sc2.latest().grams == 0)
    assert sc2.latest().tare_g == 250
    # XK3190 command mode has no zero command: a clear error
    sim3 = sims("xk3190-cmd")
    sc3 = scales(sim3.path, "xk3190-cmd")
    with pytest.raises(Unsupported):
        sc3.zero()


@pytest.mark.parametrize("map_name,command", [("tuna-id551pn", "zero"), ("tuna-id551pn", "tare"),
                                              ("fairbanks-pr5410", "zero"), ("fairbanks-pr5410", "tare")])
def test_modbus_commands_through_minimalmodbus(map_name, command, sims, scales):
    sim = sims("modbus", modbus_map=map_name, decimals=0 if map_name == "fairbanks-pr5410" else 3)
    sim.set_weight(5000 if map_name == "fairbanks-pr5410" else 1250, settle=False)
    sc = scales(sim.path, "modbus", map=map_name)
    before = sc.stable_weight(5)
    assert before is not None and before.grams == (5000 if map_name == "fairbanks-pr5410" else 1250)
    getattr(sc, command)()
    if command == "zero":
        assert sim.zero_g == sim.load_g
    else:
        assert sim.tare_g == before.grams
    assert wait_for(lambda: sc.latest() is not None and sc.latest().grams == 0)


def test_modbus_map_without_commands(sims, scales):
    sim = sims("modbus", modbus_map="eagle-ei4000")
    sim.set_weight(777, settle=False)
    sc = scales(sim.path, "modbus", map="eagle-ei4000")
    assert sc.stable_weight(5).grams == 777
    with pytest.raises(Unsupported, match="no zero command"):
        sc.zero()


def test_modbus_slave_unplugged_then_back(tmp_path, sims, scales):
    link = str(tmp_path / "ttyRTU")
    sim = sims("modbus", link=link)
    sim.set_weight(400, settle=False)
    sc = scales(link, "modbus", backoff_min_s=0.02, backoff_max_s=0.2)
    assert sc.stable_weight(5).grams == 400
    sim.unplug()
    assert wait_for(lambda: sc.status()["state"] == "reconnecting")
    sim.replug()
    assert sc.stable_weight(5).grams == 400 and sc.status()["reconnects"] >= 1


# --- HID: a fake hidapi device at the lowest layer ------------------------------------------------
class FakeHid:
    """Stands in for ``hid.device``: open/open_path/read/close, returning report bytes from a script."""
    instances = []

    def __init__(self):
        self.reports, self.opened, self.gone = [], None, False
        FakeHid.instances.append(self)

    def open(self, vid, pid):
        self.opened = (vid, pid)
        self.reports = [list(hid_report(999, 0, "g"))] + [list(hid_report(500, 0, "g"))] * 200

    def open_path(self, path):
        self.open(0, 0)

    def read(self, size, timeout_ms=0):
        if self.gone:
            raise OSError("read error")
        time.sleep(0.005)
        return self.reports.pop(0) if self.reports else []

    def close(self):
        pass


def test_hid_scale_with_fake_device(scales):
    FakeHid.instances.clear()
    sc = scales("hid://0922:8003", "hid-pos-scale", device_factory=FakeHid, stable_readings=2)
    r = sc.stable_weight(3)
    assert r is not None and r.grams == 500            # the stale 999 g report was dropped
    assert FakeHid.instances[0].opened == (0x0922, 0x8003)
    assert all(u in UNITS.values() for u in ("g", "oz", "lb"))
    FakeHid.instances[0].gone = True                    # unplugged
    assert wait_for(lambda: sc.status()["reconnects"] >= 1 or sc.status()["state"] == "reconnecting")
    assert wait_for(lambda: len(FakeHid.instances) >= 2)
    assert sc.stable_weight(3).grams == 500


def test_on_reading_callback_and_status_counts(sims, scales):
    sim = sims("xk3190-plain")
    sim.set_weight(100, settle=False)
    got = []
    sc = scales(sim.path, "xk3190-plain", on_reading=got.append)
    assert wait_for(lambda: len(got) >= 5)
    assert all(r.grams == 100 for r in got) and got[-1].stable
    assert sc.status()["readings"] >= 5 and sc.status()["frames"] >= 6    # the first one was dropped
