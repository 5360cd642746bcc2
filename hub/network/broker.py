"""Mosquitto, managed: start a private broker on a free local port, stop it, restart it.

``scanhub hub run`` without ``--broker`` uses this, and so do the demo and the tests (which stop
and restart the broker to simulate outages).  At scale, point the hub and edges at a real
broker or cluster with ``--broker mqtt[s]://user:pass@host:port`` instead.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from hub.errors import HubError


class BrokerError(HubError):
    """The broker could not be found, started or reached."""


def _die_with_parent() -> None:
    """In the broker's process before exec: end it when the process that started it dies, so a
    hub killed with -9 does not leave its private broker holding the port (Linux only)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto mosquitto-clients)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class ManagedBroker:
    """A Mosquitto process of our own.  ``port`` stays the same across ``stop()``/``start()``."""

    def __init__(self, port: int | None = None, password_file: str | None = None,
                 acl_file: str | None = None, workdir: str | None = None, verbose: bool = False,
                 tls: dict | None = None):
        self.binary = find_mosquitto()
        self.port = port or free_port()
        self.password_file = password_file
        self.acl_file = acl_file
        self.workdir = workdir or tempfile.mkdtemp(prefix="scanhub-broker-")
        self.verbose = verbose
        self.tls = tls            # {"cert": path, "key": path, "ca": path}: listen with TLS only
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.workdir, "mosquitto.log")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _write_config(self) -> str:
        lines = [f"listener {self.port} 127.0.0.1"]
        if self.tls:
            lines += [f"certfile {self.tls['cert']}", f"keyfile {self.tls['key']}"]
            if self.tls.get("ca"):
                lines.append(f"cafile {self.tls['ca']}")
        lines += ["persistence false",
                 "max_queued_messages 100000", "max_inflight_messages 0",
                 f"log_dest file {self.log_path}", "log_type error", "log_type warning"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # started as root, mosquitto would switch to its own user and lose our private files
            lines.append("user root")
        if self.password_file:
            # a client id is its user name: nobody can log in with another station's client id
            # and kick it off (docs/operations.md, "Credentials and TLS")
            lines += ["allow_anonymous false", f"password_file {self.password_file}", "use_username_as_clientid true"]
        else:
            lines += ["allow_anonymous true"]
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        path = os.path.join(self.workdir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout_s: float = 10.0) -> "ManagedBroker":
        if self.running:
            return self
        conf = self._write_config()
        self.proc = subprocess.Popen([self.binary, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                log = open(self.log_path).read().strip() if os.path.exists(self.log_path) else ""
                raise BrokerError(f"mosquitto exited at start: {err or log or self.proc.returncode}")
            if port_open("127.0.0.1", self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s:.0f} s")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        # the port is released when the process is gone; wait until nothing listens
        deadline = time.monotonic() + 5
        while port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        """Re-read password and ACL files (SIGHUP)."""
        if self.running:
            self.proc.send_signal(signal.SIGHUP)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
