"""The scale, sim scale and devices commands, through click's CliRunner and as a real process."""
import json
import os
import subprocess
import sys
from types import SimpleNamespace

from click.testing import CliRunner

from cli import main
from conftest import read_line, wait_for
from drivers import listing
from sim.scale_devices import SimScale


def test_scale_read_json_and_text():
    with SimScale("mt-sics", settle_s=0.1) as sim:
        sim.set_weight(4321, settle=False)
        res = CliRunner().invoke(main, ["scale", "read", sim.path, "--protocol", "mt-sics", "--json"])
        assert res.exit_code == 0, res.output
        obj = json.loads(res.output.strip().splitlines()[-1])
        assert obj["grams"] == 4321 and obj["stable"] is True
        res = CliRunner().invoke(main, ["scale", "read", sim.path, "-p", "mt-sics"])
        assert res.exit_code == 0 and "4321 g" in res.output and "stable" in res.output


def test_scale_read_modbus_map_and_options(tmp_path):
    with SimScale("modbus", modbus_map="fairbanks-pr5410", decimals=0) as sim:
        sim.set_weight(12000, settle=False)
        res = CliRunner().invoke(main, ["scale", "read", sim.path, "-p", "modbus", "--map", "fairbanks-pr5410",
                                        "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output.splitlines()[-1])["grams"] == 12000


def test_scale_errors_are_one_line():
    r = CliRunner().invoke(main, ["scale", "read", "/nonexistent/tty", "-p", "xk3190", "--timeout", "0.3"])
    assert r.exit_code == 1 and "no stable weight within 0.3 s" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["scale", "read", "loop://", "-p", "bogus"])
    assert r.exit_code == 2 and "unknown protocol" in r.output
    r = CliRunner().invoke(main, ["scale", "read", "loop://", "-p", "xk3190", "--map", "x"])
    assert r.exit_code == 2 and "--map is for --protocol modbus" in r.output
    r = CliRunner().invoke(main, ["scale", "read", "loop://", "-p", "modbus", "--map", "nope"])
    assert r.exit_code == 1 and "no register map 'nope'" in r.output


def test_scale_zero_and_unsupported():
    with SimScale("toledo-8217") as sim:
        sim.set_weight(50, settle=False)
        r = CliRunner().invoke(main, ["scale", "zero", sim.path, "-p", "toledo-8217"])
        assert r.exit_code == 0 and "zero: sent" in r.output
        wait_for(lambda: sim.zero_g == 50, timeout=5, what="the scale to take the zero command")
    with SimScale("xk3190") as sim:
        r = CliRunner().invoke(main, ["scale", "tare", sim.path, "-p", "xk3190"])
        assert r.exit_code == 1 and "xk3190 has no tare command" in r.output


def test_sim_scale_command_serves_a_pty(tmp_path):
    link = str(tmp_path / "ttySIM")
    script = tmp_path / "weights.txt"
    script.write_text("2500 # a parcel\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "cli.py", "sim", "scale", "-p", "xk3190", "--link", link,
                             "--script", str(script), "--settle", "0.1"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        assert read_line(proc.stdout, what="the pty of the scale").strip() == link
        out = subprocess.run([sys.executable, "cli.py", "scale", "read", link, "-p", "xk3190", "--json"],
                             capture_output=True, text=True, env=env, timeout=30)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.splitlines()[-1])["grams"] == 2500
    finally:
        proc.terminate()
        proc.wait(10)


def test_sim_scale_rejects_unknown_protocol():
    r = CliRunner().invoke(main, ["sim", "scale", "-p", "nope"])
    assert r.exit_code == 1 and "no simulator" in r.output


# --- devices list ---------------------------------------------------------------------------
def fake_port(device, vid=None, pid=None, description="n/a", hwid="n/a"):
    return SimpleNamespace(device=device, vid=vid, pid=pid, description=description, manufacturer=None,
                           product=None, serial_number=None, hwid=hwid)


def test_devices_collect_with_fakes():
    found = listing.collect(
        comports=lambda: [fake_port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial", "USB VID:PID=1A86:7523"),
                          fake_port("/dev/ttyACM0", 0x0C2E, 0x0B61, "Honeywell", "USB VID:PID=0C2E:0B61")],
        hid_enumerate=lambda: [{"path": b"/dev/hidraw0", "vendor_id": 0x0922, "product_id": 0x8003,
                                "usage_page": 0x8D, "usage": 0x20, "product_string": "M10"},
                               {"path": b"/dev/hidraw1", "vendor_id": 0x0C2E, "product_id": 0x0B01,
                                "usage_page": 0x01, "usage": 0x06}],
        usb_find=lambda find_all: [SimpleNamespace(idVendor=0x05E0, idProduct=0x1900, bDeviceClass=0, bus=1,
                                                   address=4, manufacturer="Zebra", product="DS2208")])
    kinds = [(d["kind"], d["vid_pid"]) for d in found["devices"]]
    assert kinds == [("serial", "1a86:7523"), ("serial", "0c2e:0b61"), ("hid", "0922:8003"), ("hid", "0c2e:0b01"),
                     ("usb", "05e0:1900")]
    looks = [d["looks_like"] for d in found["devices"]]
    assert "USB-serial adapter" in looks[0] and "CDC" in looks[1]
    assert "hid-pos-scale" in looks[2] and "keyboard-wedge" in looks[3] and "Zebra" in looks[4]
    assert found["notes"] == []


def test_devices_collect_without_backends():
    def no_hid():
        raise ImportError("libhidapi-hidraw.so.0: cannot open shared object file")

    def no_usb(find_all):
        raise OSError("No backend available")
    found = listing.collect(comports=lambda: [], hid_enumerate=no_hid, usb_find=no_usb)
    assert found["devices"] == []
    assert [n.split(":")[0] for n in found["notes"]] == ["hid", "usb"]


def test_devices_list_command():
    r = CliRunner().invoke(main, ["devices", "list", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert set(doc) == {"devices", "notes"}
    r = CliRunner().invoke(main, ["devices", "list"])
    assert r.exit_code == 0
