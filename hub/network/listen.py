"""Where the hub's managed broker listens, and the broker URL station files name.

Stations on other machines need a broker address that stays the same across hub restarts:
``scanhub hub run --listen HOST:PORT`` starts the managed broker there and records the address
in the store (``Meta`` key ``broker_listen``); a later ``hub run`` without ``--listen`` listens
there again.  A store with nothing recorded gets a random local port at every start: a throwaway
run, for one machine.  Port 0 asks for a random port and records nothing.

``scanhub hub credentials`` writes station files for the broker named by, in this order: its
``--broker``, the one it wrote last time (recorded: ``station_broker``), or the recorded listen
address (on all interfaces: this machine's name).  The recorded station broker must name the
port the hub listens on; when it does not, ``station_broker_url`` says so instead of writing
files that cannot reach the hub, and ``hub run`` warns (``mismatch``).
"""
from __future__ import annotations

import socket

from contract.broker import BrokerURL
from hub.errors import HubError
from hub.network.broker import WILDCARDS
from hub.store.meta import get_meta, set_meta

LISTEN_KEY = "broker_listen"
STATION_BROKER_KEY = "station_broker"
DEFAULT_PORT = 1883


class ListenError(HubError):
    """A listen address that cannot be used, or no broker address for the station files."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (every interface) -> ``(host, port)``;
    host ``""`` means every interface, port 0 a random one."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or ":" in host and not text.startswith("["):
        raise ListenError(f"--listen {text!r}: give HOST:PORT, e.g. 0.0.0.0:{DEFAULT_PORT} (every interface) "
                          f"or 192.168.1.10:{DEFAULT_PORT}")
    return host, int(port)


def format_listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def recorded_listen() -> tuple[str, int] | None:
    """The address an earlier ``hub run --listen`` recorded in the store, or None."""
    text = get_meta(LISTEN_KEY)
    return parse_listen(text) if text else None


def record_listen(host: str, port: int) -> None:
    set_meta(LISTEN_KEY, format_listen(host, port))


def station_broker_url(given: str | None = None) -> tuple[str, str]:
    """``(url, where it came from)`` for the station files (module docstring; ``remember`` records
    a given one once the files are written).  Raises ``ListenError`` when there is nothing to go
    by, or the recorded URL names another port than the hub listens on."""
    listen = recorded_listen()
    if given:
        return str(BrokerURL.parse(given)), "--broker"      # no user or password: each file has its own
    kept = get_meta(STATION_BROKER_KEY)
    if kept:
        if listen and BrokerURL.parse(kept).port != listen[1]:
            raise ListenError(f"the station files would point at {kept}, but the hub's broker listens on "
                              f"{format_listen(*listen)} (`hub run --listen`): give the address stations "
                              f"reach it by, --broker mqtt://HOST:{listen[1]}")
        return kept, "the station files written last time"
    if listen:
        host, port = listen
        if host in WILDCARDS:
            return f"mqtt://{socket.getfqdn()}:{port}", \
                f"`hub run --listen {format_listen(host, port)}`, with this machine's name"
        return f"mqtt://{format_listen(host, port)}", f"`hub run --listen {format_listen(host, port)}`"
    raise ListenError("no broker address for the station files: give --broker mqtt://HOST:PORT (the address "
                      "stations reach the broker by), or run `scanhub hub run --listen HOST:PORT` once: "
                      "it records where the hub's broker listens")


def remember(url: str) -> None:
    """Keep the station files' broker URL for the next ``hub credentials``."""
    set_meta(STATION_BROKER_KEY, url)


def mismatch(listen: tuple[str, int]) -> str | None:
    """A warning when the station files `hub credentials` last wrote name another port than
    ``listen``: the stations could not reach this broker."""
    kept = get_meta(STATION_BROKER_KEY)
    if kept and BrokerURL.parse(kept).port != listen[1]:
        return (f"station files from `hub credentials` point at {kept}, but this broker listens on "
                f"{format_listen(*listen)}: stations cannot reach it; re-run `scanhub hub credentials` "
                f"with --broker mqtt://HOST:{listen[1]}")
    return None
