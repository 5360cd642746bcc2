"""Scanner devices end to end: simulated guns on pseudo-terminals and FIFOs, a fake hidapi device
and a fake pyusb backend, read by the real drivers through drivers.port."""
import threading
import time
from types import SimpleNamespace

import pytest
import usb.backend
import usb.core

from drivers.port import PortBusy
from drivers.scanner import CommandError, CommandTimeout, UnknownProtocolError, open_scanner
from sim.scanner_frames import encode_hid_pos, encode_keyboard, encode_serial
from sim.scanner_sim import SimScanner
from conftest import wait_for

FAST = {"backoff_min_s": 0.02, "backoff_max_s": 0.2}



class Collector:
    def __init__(self):
        self.reads, self.lock = [], threading.Lock()

    def __call__(self, read):
        with self.lock:
            self.reads.append(read)

    def texts(self):
        with self.lock:
            return [r.text for r in self.reads]

    def wait(self, n, timeout=20.0):          # generous: the suite must pass on a loaded machine
        wait_for(lambda: len(self.reads) >= n, timeout, f"{n} reads (have {self.texts()})")
        return self.texts()


@pytest.fixture
def sims():
    made = []

    def make(*a, **kw):
        s = SimScanner(*a, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture
def devs():
    made = []

    def make(*a, **kw):
        d = open_scanner(*a, **{**FAST, **kw})
        made.append(d)
        return d
    yield make
    for d in made:
        d.close()


@pytest.mark.parametrize("protocol", ["serial", "ssi", "honeywell"])
def test_live_stream_over_a_pty(sims, devs, protocol):
    gun, got = sims(protocol), Collector()
    dev = devs(gun.path, protocol, on_read=got, device_id="gun-1")
    assert dev.wait_connected(5)
    want = [f"YT{n:013d}" for n in range(40)]
    for text in want:
        gun.send_read(text)
    assert got.wait(40) == want
    assert all(r.device == "gun-1" for r in got.reads)
    st = dev.status()
    assert st["state"] == "connected" and st["reads"] == 40 and st["protocol"] == protocol
    if protocol == "ssi":   # the driver acknowledged every DECODE_DATA packet
        wait_for(lambda: sum(p.name == "CMD_ACK" for p in gun.host_packets) == 40, what="40 ACKs")


def test_unplug_and_replug_at_a_stable_path(sims, devs, tmp_path):
    link = str(tmp_path / "usb-Honeywell_gun-if00")
    gun, got = sims("serial", link=link), Collector()
    dev = devs(link, "serial", on_read=got, device_id="gun-1")
    assert dev.wait_connected(5)
    gun.send_read("BEFORE-1")
    got.wait(1)
    gun.unplug()
    wait_for(lambda: dev.status()["state"] == "reconnecting", what="reconnecting state")
    assert dev.status()["last_error"]
    gun.replug()
    wait_for(lambda: dev.status()["state"] == "connected" and dev.status()["reconnects"] == 1,
             what="reconnected")
    gun.send_read("AFTER-1")
    assert got.wait(2) == ["BEFORE-1", "AFTER-1"]


def test_half_read_before_an_unplug_is_not_glued_to_the_next(sims, devs, tmp_path):
    link = str(tmp_path / "gun")
    gun, got = sims("serial", link=link), Collector()
    dev = devs(link, "serial", on_read=got)
    assert dev.wait_connected(5)
    gun.send_bytes(b"YT12345")                      # cut off mid-read
    wait_for(lambda: dev.decoder._buf, what="partial read buffered")
    gun.unplug()
    wait_for(lambda: dev.status()["state"] == "reconnecting")
    gun.replug()
    wait_for(lambda: dev.status()["state"] == "connected")
    gun.send_read("YT99")
    assert got.wait(1) == ["YT99"]


def test_concurrent_devices_of_every_serial_protocol(sims, devs):
    protocols = ["serial", "ssi", "honeywell", "batch", "serial"]
    guns = [sims(p) for p in protocols]
    cols = [Collector() for _ in protocols]
    for i, (g, p) in enumerate(zip(guns, protocols)):
        assert devs(g.path, p, on_read=cols[i], device_id=f"gun-{i}").wait_connected(5)
    for k in range(15):
        for i, g in enumerate(guns):
            g.send_read(f"G{i}-{k:04d}")
    for i, c in enumerate(cols):
        assert c.wait(15) == [f"G{i}-{k:04d}" for k in range(15)]


def test_second_owner_of_a_port_is_refused(sims, devs):
    gun = sims("serial")
    devs(gun.path, "serial")
    with pytest.raises(PortBusy):
        open_scanner(gun.path, "serial")


def test_batch_cradle_uploads_interleaved_with_live_reads(sims, devs):
    gun, got = sims("batch"), Collector()
    dev = devs(gun.path, "batch", on_read=got, device_id="cradle-1")
    assert dev.wait_connected(5)
    recs = [{"gun": "W7", "seq": s, "kind": "arrive", "waybill": f"YT{s:013d}",
             "scanned_ms": 1_717_200_000_000 + s, "operator": "1001", "site": "100", "weight_g": 1200 + s}
            for s in range(1, 6)]
    gun.send_read("LIVE-A")
    gun.send_upload("W7", recs[:3], "img-3")
    gun.send_read("LIVE-B")
    gun.send_upload("W7", recs, "img-3")          # persistent batch: re-sends 1-3
    got.wait(7)
    wait_for(lambda: dev.status()["uploads"] == 2, what="both uploads accepted")
    reads = got.reads
    assert [r.text for r in reads if r.record is None] == ["LIVE-A", "LIVE-B"]
    assert [r.record["seq"] for r in reads if r.record] == [1, 2, 3, 4, 5]
    assert [r.time_ms for r in reads if r.record] == [1_717_200_000_000 + s for s in range(1, 6)]
    wait_for(lambda: len(gun.receipts) == 2, what="two receipts")
    assert all(r.startswith(b"~SHB1 ACK gun=W7") for r in gun.receipts)
    assert dev.status()["duplicates"] == 3


def test_honeywell_configuration_over_a_pty(sims, devs):
    gun = sims("honeywell")
    dev = devs(gun.path, "honeywell", device_id="hw")
    assert dev.wait_connected(5)
    assert dev.get("232BAD") == "9"
    dev.set("232BAD", "5")
    assert gun.settings["232BAD"] == "5" and dev.get("232BAD") == "5"
    with pytest.raises(CommandError, match="out of range"):
        dev.set("232BAD", "X")
    with pytest.raises(CommandError, match="unknown tag"):
        dev.get("ZZZZZZ")
    reply = dev.command(["cbrena?", "c39ena*"])
    assert [(i.name, i.data) for i in reply.items] == [("CBRENA", "1"), ("C39ENA", "0|1")]
    gun.send_read("STILL-READS")                     # reads keep flowing between commands
    wait_for(lambda: dev.recent and dev.recent[-1].text == "STILL-READS")


def test_honeywell_command_to_a_silent_device_times_out(sims, devs):
    gun = sims("serial")                             # a gun that ignores menu commands
    dev = devs(gun.path, "honeywell")
    assert dev.wait_connected(5)
    with pytest.raises(CommandTimeout):
        dev.get("232BAD", timeout_s=0.3)
    gun.send_read("OK")                              # and the decoder is not left waiting
    wait_for(lambda: dev.recent and dev.recent[-1].text == "OK")


def test_ssi_host_command_is_acknowledged(sims, devs):
    gun = sims("ssi")
    dev = devs(gun.path, "ssi")
    assert dev.wait_connected(5)
    dev.command("BEEP", b"\x01")
    assert gun.host_packets[-1].name == "BEEP" and gun.host_packets[-1].data == b"\x01"


def test_unknown_protocol_is_refused_before_opening(sims):
    gun = sims("serial")
    with pytest.raises(UnknownProtocolError):
        open_scanner(gun.path, "laser")


# -- HID over a hidraw node (a FIFO stands in for /dev/hidrawN) ------------------------------------
@pytest.mark.parametrize("protocol, encode", [("hid-keyboard", lambda t: encode_keyboard(t)),
                                              ("hid-pos", lambda t: encode_hid_pos(t, "ean13"))])
def test_hidraw_node_reads_unplug_and_replug(sims, devs, protocol, encode):
    gun, got = sims(protocol, transport="fifo"), Collector()
    dev = devs(f"hidraw://{gun.path}", protocol, on_read=got, device_id="wedge")
    assert dev.wait_connected(5)
    gun.send_bytes(encode("6901234567892"))
    assert got.wait(1) == ["6901234567892"]
    before = dev.status()["reconnects"]
    gun.unplug()
    # the host sees EOF and goes reconnecting; a FIFO node reopens at once, so under load the
    # state may already be back: a reconnect counted is the same evidence
    wait_for(lambda: dev.status()["state"] == "reconnecting" or dev.status()["reconnects"] > before,
             what="EOF noticed")
    gun.replug()
    wait_for(lambda: dev.status()["state"] == "connected", what="re-opened")
    gun.send_bytes(encode("YT0000000000001"))
    assert got.wait(2) == ["6901234567892", "YT0000000000001"]


# -- hidapi: a fake hid module at the lowest layer (device objects returning report bytes) ---------
class FakeHidModule:
    def __init__(self, reports):
        self.reports = list(reports)
        self.opened = []
        self.gone = False

    def device(self):
        module = self

        class Dev:
            def open(self, vid, pid, serial=None):
                if module.gone:
                    raise OSError("open failed")
                module.opened.append((vid, pid, serial))

            def read(self, n, timeout_ms=0):
                if module.gone:
                    raise OSError("read error")
                if module.reports:
                    return list(module.reports.pop(0))[:n]
                time.sleep(timeout_ms / 1000)
                return []

            def write(self, data):
                return len(data)

            def close(self):
                pass
        return Dev()


def test_hidapi_device_by_vendor_and_product_id(devs):
    reports = [encode_hid_pos("QR-DATA-" + "x" * 60, "qr")[i:i + 64] for i in (0, 64)]
    fake = FakeHidModule(reports)
    got = Collector()
    dev = devs("hid://0c2e:0b8f/SER1", "hid-pos", on_read=got, hid_module=fake)
    assert got.wait(1) == ["QR-DATA-" + "x" * 60]
    assert fake.opened == [(0x0C2E, 0x0B8F, "SER1")]
    assert got.reads[0].symbology == "qr" and dev.status()["port"] == "hid://0c2e:0b8f/SER1"
    fake.gone = True
    wait_for(lambda: dev.status()["state"] == "reconnecting")
    fake.gone = False
    fake.reports.append(encode_hid_pos("AGAIN", "code128"))
    assert got.wait(2)[-1] == "AGAIN"


# -- pyusb: a simulated backend (pyusb's IBackend) -------------------------------------------------
class FakeUsbBackend(usb.backend.IBackend):
    """One vendor-class device, one interface, bulk IN 0x81 / OUT 0x02, feeding queued bytes."""

    def __init__(self, vid=0x05E0, pid=0x1900):
        self.vid, self.pid = vid, pid
        self.chunks, self.written, self.gone = [], [], False
        self.config = 0

    def enumerate_devices(self):
        if not self.gone:
            yield "dev0"

    def get_device_descriptor(self, dev):
        return SimpleNamespace(bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0xFF,
                               bDeviceSubClass=0, bDeviceProtocol=0, bMaxPacketSize0=64,
                               idVendor=self.vid, idProduct=self.pid, bcdDevice=0x0100,
                               iManufacturer=0, iProduct=0, iSerialNumber=0, bNumConfigurations=1,
                               address=5, bus=1, port_number=2, port_numbers=(2,), speed=2)

    def get_configuration_descriptor(self, dev, config):
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
                               bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80,
                               bMaxPower=50, extra_descriptors=[])

    def get_interface_descriptor(self, dev, intf, alt, config):
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                               bNumEndpoints=2, bInterfaceClass=0xFF, bInterfaceSubClass=0,
                               bInterfaceProtocol=0, iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        addr = (0x81, 0x02)[ep]
        return SimpleNamespace(bLength=7, bDescriptorType=5, bEndpointAddress=addr, bmAttributes=2,
                               wMaxPacketSize=64, bInterval=0, bRefresh=0, bSynchAddress=0,
                               extra_descriptors=[])

    def open_device(self, dev):
        if self.gone:
            raise usb.core.USBError("No such device", errno=19)
        return "handle"

    def close_device(self, handle):
        pass

    def set_configuration(self, handle, value):
        self.config = value

    def get_configuration(self, handle):
        return self.config

    def claim_interface(self, handle, intf):
        pass

    def release_interface(self, handle, intf):
        pass

    def is_kernel_driver_active(self, handle, intf):
        return False

    def bulk_read(self, handle, ep, intf, buff, timeout):
        if self.gone:
            raise usb.core.USBError("No such device (it may have been disconnected)", errno=19)
        if not self.chunks:
            time.sleep(timeout / 1000)
            raise usb.core.USBTimeoutError("Operation timed out", errno=110, error_code=-7)
        data = self.chunks.pop(0)
        n = min(len(data), len(buff))
        buff[:n] = type(buff)(buff.typecode, data[:n])
        return n

    def bulk_write(self, handle, ep, intf, data, timeout):
        self.written.append(bytes(data))
        return len(data)


def test_usb_bulk_device_through_a_simulated_pyusb_backend(devs):
    backend = FakeUsbBackend()
    got = Collector()
    data = encode_serial("YT1234567890123", suffix=b"\r") + encode_serial("]E06901234567892", suffix=b"\r")
    backend.chunks += [data[:10], data[10:]]
    dev = devs("usb://05e0:1900", "serial", on_read=got, usb_backend=backend, device_id="usb-gun")
    assert got.wait(2) == ["YT1234567890123", "6901234567892"]
    assert got.reads[1].symbology == "ean13"
    dev.write(b"\x16T\r")
    assert backend.written == [b"\x16T\r"]
    backend.gone = True
    wait_for(lambda: dev.status()["state"] == "reconnecting", what="USB unplug noticed")
    backend.gone = False
    backend.chunks.append(b"AFTER\r")
    assert got.wait(3)[-1] == "AFTER"
    assert dev.status()["reconnects"] >= 1


def test_usb_ssi_scanner_gets_its_acks_over_the_out_endpoint(devs):
    from sim.scanner_frames import encode_ssi
    from drivers.scanner.ssi import ack
    backend = FakeUsbBackend()
    backend.chunks.append(encode_ssi("ABC", "code39"))
    got = Collector()
    devs("usb://05e0:1900?interface=0&ep_in=0x81&ep_out=0x02", "ssi", on_read=got, usb_backend=backend)
    assert got.wait(1) == ["ABC"]
    wait_for(lambda: backend.written == [ack()], what="ACK written")
