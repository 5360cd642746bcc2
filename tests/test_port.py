"""drivers.port.PortOwner over real pseudo-terminals: streaming, unplug/replug, one owner per port."""
import os
import threading
import time

import pytest

from drivers.port import PortBusy, PortNotConnected, PortOwner, by_id_links, owner_of, stable_path
from conftest import wait_for


class Lines:
    """A tiny pure decoder: newline-terminated ASCII lines; lines with '!' are garbage."""

    def __init__(self):
        self.buf = b""
        self.bad_frames = 0
        self.resets = 0

    def feed(self, data):
        self.buf += data
        out = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if b"!" in line:
                self.bad_frames += 1
            else:
                out.append(line.decode())
        return out

    def reset(self):
        self.resets += 1
        self.buf = b""


class Plug:
    """A pty behind a stable symlink (like /dev/serial/by-id): unplug closes the master, plug makes a
    new pty and points the link at it."""

    def __init__(self, tmp_path, name="ttyFAKE"):
        self.link = str(tmp_path / name)
        self.master = None
        self.plug()

    def plug(self):
        master, slave = os.openpty()
        path = os.ttyname(slave)
        os.close(slave)
        tmp = self.link + ".new"
        os.symlink(path, tmp)
        os.replace(tmp, self.link)
        self.master = master

    def unplug(self):
        os.unlink(self.link)  # as udev removes the by-id link: retries never hit a recycled /dev/pts/N
        os.close(self.master)
        self.master = None

    def send(self, data):
        os.write(self.master, data)

    def recv(self, n=1024, timeout=2.0):
        import select
        r, _, _ = select.select([self.master], [], [], timeout)
        return os.read(self.master, n) if r else b""

    def close(self):
        if self.master is not None:
            os.close(self.master)
        if os.path.lexists(self.link):
            os.unlink(self.link)



@pytest.fixture
def plug(tmp_path):
    p = Plug(tmp_path)
    yield p
    p.close()


def test_stream_and_status(plug):
    got = []
    owner = PortOwner(plug.link, Lines(), got.append, backoff_min_s=0.02)
    try:
        assert owner.wait_connected(3)
        plug.send(b"one\ntw")
        plug.send(b"o\nbad!\nthree\n")
        assert wait_for(lambda: len(got) == 3)
        assert got == ["one", "two", "three"]
        st = owner.status()
        assert st["state"] == "connected" and st["frames"] == 3 and st["bad_frames"] == 1
        assert st["reconnects"] == 0 and st["last_frame_ms"] > 1_600_000_000_000
        assert set(st) == {"state", "port", "frames", "bad_frames", "reconnects", "failed_opens", "last_error",
                           "last_frame_ms"}
        assert st["failed_opens"] == 0
    finally:
        owner.close()
    assert owner.status()["state"] == "closed"


def test_unplug_then_replug_reconnects(plug):
    got, states = [], []
    dec = Lines()
    owner = PortOwner(plug.link, dec, got.append, on_state=states.append, backoff_min_s=0.02, backoff_max_s=0.2)
    try:
        assert owner.wait_connected(3)
        plug.send(b"before\nhalf-a-fr")
        assert wait_for(lambda: got == ["before"])
        plug.unplug()
        assert wait_for(lambda: owner.status()["state"] == "reconnecting")
        assert owner.status()["last_error"]
        with pytest.raises(PortNotConnected):
            owner.write(b"x")
        away = owner.status()["failed_opens"]     # several failed attempts while the device is away: no crash
        assert wait_for(lambda: owner.status()["failed_opens"] >= away + 3)
        plug.plug()
        assert owner.wait_connected(3)
        plug.send(b"ame\nafter\n")
        assert wait_for(lambda: got[-1:] == ["after"])
        # the half frame from before the unplug was not glued to the bytes after it
        assert got == ["before", "ame", "after"]
        assert owner.status()["reconnects"] == 1
        assert dec.resets == 2
        assert states[:3] == ["connected", "reconnecting", "connected"]
    finally:
        owner.close()


def test_one_owner_per_port(plug):
    owner = PortOwner(plug.link, Lines(), None)
    try:
        with pytest.raises(PortBusy):
            PortOwner(plug.link, Lines(), None)
        real = os.path.realpath(plug.link)
        with pytest.raises(PortBusy):  # the same device under another name
            PortOwner(real, Lines(), None)
        assert owner_of(real) is owner
    finally:
        owner.close()
    again = PortOwner(plug.link, Lines(), None)
    again.close()


def test_write_and_poll(plug):
    owner = PortOwner(plug.link, Lines(), None, poll=lambda: b"W", poll_interval_s=0.05)
    try:
        assert owner.wait_connected(3)
        data = b""
        deadline = time.monotonic() + 3
        while data.count(b"W") < 3 and time.monotonic() < deadline:
            data += plug.recv(timeout=0.5)
        assert data.count(b"W") >= 3
        owner.write(b"Z")
        deadline = time.monotonic() + 3
        while b"Z" not in data and time.monotonic() < deadline:
            data += plug.recv(timeout=0.5)
        assert b"Z" in data
    finally:
        owner.close()


def test_concurrent_ports(tmp_path):
    plugs = [Plug(tmp_path, f"tty{i}") for i in range(4)]
    got = {i: [] for i in range(4)}
    owners = [PortOwner(p.link, Lines(), got[i].append) for i, p in enumerate(plugs)]
    try:
        assert all(o.wait_connected(3) for o in owners)
        for n in range(20):
            for i, p in enumerate(plugs):
                p.send(f"{i}:{n}\n".encode())
        assert wait_for(lambda: all(len(v) == 20 for v in got.values()))
        for i in range(4):
            assert got[i] == [f"{i}:{n}" for n in range(20)]
    finally:
        for o in owners:
            o.close()
        for p in plugs:
            p.close()


def test_session_mode_and_callback_errors():
    calls = []

    def session(owner, port):
        port.write(b"ping\n")
        owner.emit(port.read(5))
        owner.count_bad("nothing")
        owner.stopping.wait()

    def on_item(item):
        calls.append(item)
        raise RuntimeError("consumer bug")

    owner = PortOwner("loop://", session=session, on_item=on_item)
    try:
        assert wait_for(lambda: calls == [b"ping\n"])
        assert wait_for(lambda: owner.status()["bad_frames"] == 1)
        assert owner.status()["state"] == "connected"
    finally:
        owner.close()
    with pytest.raises(ValueError):
        PortOwner("loop://", None, None)


def test_bad_url_keeps_retrying_without_crashing():
    owner = PortOwner("/nonexistent/ttyNOPE", Lines(), None, backoff_min_s=0.01, backoff_max_s=0.05)
    try:
        assert wait_for(lambda: owner.status()["failed_opens"] >= 5)      # kept retrying
        assert owner.status()["state"] == "reconnecting" and owner.status()["last_error"]
        assert owner._thread.is_alive()
    finally:
        owner.close()
    assert not owner._thread.is_alive()


def test_by_id_resolution(tmp_path, plug):
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    real = os.path.realpath(plug.link)
    (by_id / "usb-Mettler_Toledo_IND-if00-port0").symlink_to(real)
    assert by_id_links(str(by_id)) == {real: str(by_id / "usb-Mettler_Toledo_IND-if00-port0")}
    assert stable_path(real, str(by_id)) == str(by_id / "usb-Mettler_Toledo_IND-if00-port0")
    assert stable_path("socket://127.0.0.1:4001", str(by_id)) == "socket://127.0.0.1:4001"
    assert stable_path("/dev/ttyNOTLINKED", str(by_id)) == "/dev/ttyNOTLINKED"


def test_close_from_callback_thread_does_not_deadlock(plug):
    holder = {}

    def on_item(item):
        holder["owner"].close()

    holder["owner"] = owner = PortOwner(plug.link, Lines(), on_item)
    assert owner.wait_connected(3)
    plug.send(b"x\n")
    assert wait_for(lambda: not owner._thread.is_alive())
    assert owner.status()["state"] == "closed"
    assert owner._thread not in threading.enumerate()      # closed from its own callback: gone, no deadlock
