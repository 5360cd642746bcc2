"""Mosquitto, managed: start a broker of the hub's own, stop it, restart it.

``scanhub hub run`` without ``--broker`` uses this: on the address of ``--listen HOST:PORT``
(a fixed port that station files can name; ``hub.network.listen``), or on a free local port for
a throwaway run; so do the demo and the tests (which stop and restart the broker to simulate
outages).  At scale, point the hub and edges at a real broker or cluster with
``--broker mqtt[s]://user:pass@host:port`` instead.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

from contract import protocol as P
from contract.broker import BrokerURL
from contract.errors import ContractError
from hub.errors import HubError


class BrokerError(HubError):
    """The broker could not be found, started or reached."""


class PortInUse(BrokerError):
    """The address the managed broker should listen on is taken (often by a system Mosquitto)."""

    def __init__(self, host: str, port: int, detail: str):
        self.host, self.port = host, port
        where = f"{host}:{port}" if host else f"port {port} on all interfaces"
        super().__init__(f"cannot listen on {where}: {detail} (another broker, e.g. a system Mosquitto "
                         f"on 1883: `systemctl status mosquitto`)")


WILDCARDS = ("", "0.0.0.0", "::")


def connect_host(host: str) -> str:
    """Where a client on this machine reaches a broker listening on ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return "::1" if host == "::" else host


def check_port_free(host: str, port: int) -> None:
    """Raise ``PortInUse`` when something listens on ``host:port`` (or the address cannot be
    bound at all).  Bound with ``SO_REUSEADDR``, as Mosquitto binds: connections of an earlier
    broker still in TIME_WAIT do not count, a listening socket does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
            s.listen(1)
        except OSError as e:
            raise PortInUse(host, port, e.strerror or str(e)) from None


def _die_with_parent() -> None:
    """In the broker's process before exec: end it when the process that started it dies, so a
    hub killed with -9 does not leave its private broker holding the port (Linux only); and let it
    open as many connections as the hard limit allows (a soft limit of 1,024 would refuse
    stations past about a thousand)."""
    try:
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host or "0.0.0.0", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# What crosses a regional broker's bridge to the central one: the station protocol's topics
# (contract.protocol), each way with its QoS.  Nothing else (no $SYS, no other tenants' topics).
BRIDGE_TOPICS = (("scans", "out", 1), ("status", "out", 1), ("time", "out", 0),
                 ("ack", "in", 1), ("config", "in", 1), ("forecast", "in", 1), ("time/reply", "in", 0))


@dataclass
class Bridge:
    """A regional Mosquitto's bridge to the central broker the hub uses (docs/deployment.md,
    "Regional brokers").  ``central``: ``mqtt[s]://[user[:pass]@]host[:port]``; the bridge logs in
    as that user (give it an ACL entry for the station topics at the central broker)."""
    name: str
    central: str
    ca: str | None = None           # CA file for an mqtts:// central broker

    def config_lines(self) -> list[str]:
        """The ``mosquitto.conf`` stanza (a ``connection`` block ends the file: put it last)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise BrokerError(f"bridge name {self.name!r}: letters, digits, - and _ only")
        try:
            url = BrokerURL.parse(self.central)
        except ContractError as e:
            raise BrokerError(f"bridge {self.name}: {e}") from None
        host = f"[{url.host}]" if ":" in url.host else url.host
        lines = [f"connection scanhub-{self.name}", f"address {host}:{url.port}",
                 f"remote_clientid scanhub-bridge-{self.name}",
                 # the central broker keeps the bridge's session: what was published for the
                 # region's stations while the link was down arrives when it is back
                 "cleansession false", "try_private true", "notifications false",
                 "keepalive_interval 10", "restart_timeout 1 10", "bridge_max_packet_size 0",
                 "start_type automatic"]
        if url.username:
            lines.append(f"remote_username {url.username}")
        if url.password:
            lines.append(f"remote_password {url.password}")
        if url.tls:
            lines.append(f"bridge_cafile {self.ca}" if self.ca else "bridge_capath /etc/ssl/certs")
        lines += [f"topic {P.ROOT}/+/{what} {direction} {qos}" for what, direction, qos in BRIDGE_TOPICS]
        return lines


class ManagedBroker:
    """A Mosquitto process of our own on ``host:port`` (default: a free port on 127.0.0.1;
    ``host`` ``""`` or ``0.0.0.0`` is every interface).  ``port`` stays the same across
    ``stop()``/``start()``.  ``start()`` raises ``PortInUse`` when the address is taken."""

    def __init__(self, port: int | None = None, password_file: str | None = None,
                 acl_file: str | None = None, workdir: str | None = None, verbose: bool = False,
                 tls: dict | None = None, host: str = "127.0.0.1", bridges: tuple = ()):
        self.binary = find_mosquitto()
        self.host = host
        self.port = port or free_port(host)
        self.password_file = password_file
        self.acl_file = acl_file
        self.workdir = workdir or tempfile.mkdtemp(prefix="scanhub-broker-")
        self.verbose = verbose
        self.tls = tls            # {"cert": path, "key": path, "ca": path}: listen with TLS only
        self.bridges = tuple(bridges)   # Bridge: a regional broker bridged to the central one
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.workdir, "mosquitto.log")

    @property
    def url(self) -> str:
        """How a client on this machine reaches it (the hub's own connection)."""
        host = connect_host(self.host)
        return f"{'mqtts' if self.tls else 'mqtt'}://{f'[{host}]' if ':' in host else host}:{self.port}"

    def _write_config(self) -> str:
        lines = [f"listener {self.port} {self.host}".rstrip()]
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
        for bridge in self.bridges:
            lines += [""] + bridge.config_lines()
        path = os.path.join(self.workdir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout_s: float = 10.0) -> "ManagedBroker":
        if self.running:
            return self
        # before mosquitto: with the port taken it would exit, but the other listener would
        # answer the readiness check below and the hub would talk to a stranger's broker
        check_port_free(self.host, self.port)
        conf = self._write_config()
        self.proc = subprocess.Popen([self.binary, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                log = open(self.log_path).read().strip() if os.path.exists(self.log_path) else ""
                why = err or log or str(self.proc.returncode)
                if "in use" in why.lower():
                    raise PortInUse(self.host, self.port, why)
                raise BrokerError(f"mosquitto exited at start: {why}")
            if port_open(connect_host(self.host), self.port):
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
        while port_open(connect_host(self.host), self.port) and time.monotonic() < deadline:
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
