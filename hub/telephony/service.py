"""The telephony service (``scanhub pbx run``): SIP transport, media relay, switch and CDRs on
one asyncio event loop.

``Pbx(config).start()`` runs the loop on a thread of its own (tests, embedding) and returns when
the SIP socket is bound; ``run()`` runs it in the foreground until interrupted.  The hub store must
be bound first (``hub.schema.connect``): CDRs, events, recordings and the live view go there.
Everything that touches calls runs on the loop's thread; other threads ask through ``call``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading

from hub.telephony.cdr import CdrWriter
from hub.telephony.config import PbxConfig
from hub.telephony.errors import TelephonyError
from hub.telephony.media import MediaRelay
from hub.telephony.sip import SipLine
from hub.telephony.switch import Switch
from hub.telephony.transport import SipTransport

log = logging.getLogger("scanhub.telephony")



#: SIP socket buffers: a burst of requests (a trunk's INVITEs at a busy hour, hundreds at once)
#: must wait in the kernel while the loop works, not be dropped and come back 500 ms later as
#: retransmissions.  The default (about 200 KB) holds only some hundred datagrams.
SIP_SOCKET_BUFFER = 4 << 20


def _large_buffers(sock: socket.socket) -> None:
    """Ask for ``SIP_SOCKET_BUFFER`` both ways; the kernel caps it at ``net.core.rmem_max`` /
    ``wmem_max`` (docs/telephony.md says how to raise those)."""
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, SIP_SOCKET_BUFFER)
        except OSError as e:                      # not fatal: the default buffer still works
            log.warning("cannot enlarge the SIP socket buffer: %s", e)

class Pbx:
    def __init__(self, config: PbxConfig, *, worker: str | None = None, store: bool = True) -> None:
        self.config = config
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{config.listen_port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.switch: Switch | None = None
        self.sip: SipLine | None = None
        self.transport: SipTransport | None = None
        self.media: MediaRelay | None = None
        self.e1 = None                  # hub.telephony.e1.E1Line when the file has E1 trunks
        self.cdr = CdrWriter(self.worker) if store else None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self.on_started = None          # fn() on the loop's thread, once SIP listens

    # ------------------------------------------------------------------ running
    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            self.switch = Switch(self.config, self.loop.call_later)
            self.media = MediaRelay(self.loop, self.config.media_host, self.config.media_ports)
            self.switch.media = self.media
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            _large_buffers(sock)
            try:
                sock.bind((self.config.listen_host, self.config.listen_port))
            except OSError as e:
                sock.close()
                raise TelephonyError(f"cannot listen for SIP on {self.config.listen_host}:"
                                     f"{self.config.listen_port}: {e.strerror}") from None
            self.transport = SipTransport(self.loop, self._on_request)
            await self.loop.create_datagram_endpoint(lambda: self.transport, sock=sock)
            try:
                await self.transport.listen_tcp(self.config.listen_host, self.transport.address[1])
            except OSError as e:
                log.warning("SIP over TCP is off: cannot listen on %s:%s (%s)", self.config.listen_host,
                            self.transport.address[1], e.strerror)
            self.sip = SipLine(self.config, self.switch, self.transport, self.media)
            self.switch.lines["sip"] = self.sip
            if any(t.kind == "e1" for t in self.config.trunks.values()):
                from hub.telephony.e1 import E1Line
                self.e1 = E1Line(self.config, self.switch, self.loop, self.media)
                self.switch.lines["e1"] = self.e1
                self.e1.start()
            if self.cdr is not None:
                self.cdr.start()
                self.switch.listeners.append(self.cdr)
                self.sip.on_bindings = self.cdr.seats
                if self.e1 is not None:
                    self._spans_every(1.0)
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        log.info("pbx running: SIP on %s:%s", *self.transport.address)
        if self.on_started is not None:
            self.on_started()
        await self._stopping.wait()
        for call in list(self.switch.calls.values()):
            for leg in call.legs:
                if leg.active:
                    leg.hangup("normal")
        await asyncio.sleep(0.05)
        if self.e1 is not None:
            self.e1.stop()
        if self.cdr is not None:
            self.cdr.stop()
        self.transport.close_tcp()
        self.transport.sock.close()

    def _spans_every(self, seconds: float) -> None:
        try:
            self.cdr.spans(self.e1.status())
        except Exception:
            log.exception("writing the spans' states")
        self.loop.call_later(seconds, self._spans_every, seconds)

    def _on_request(self, req, addr, stx) -> None:
        self.sip.on_request(req, addr, stx)

    def start(self, timeout: float = 10.0) -> "Pbx":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="pbx", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TelephonyError("the PBX did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def run(self) -> None:
        """Run in the foreground until Ctrl-C or SIGTERM."""
        import signal

        async def main():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: self._stopping and self._stopping.set())
            await self._main()
            if self._error is not None:
                raise self._error
        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop is not None and self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def call(self, fn, *args, timeout: float = 10.0):
        """Run ``fn(*args)`` on the loop's thread and return its result."""
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def run():
            try:
                fut.set_result(fn(*args))
            except BaseException as e:
                fut.set_exception(e)
        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    # ------------------------------------------------------------------ looking in
    @property
    def address(self) -> tuple[str, int]:
        return self.transport.address

    def snapshot(self) -> dict:
        """Calls in progress, registrations and counters (from any thread)."""
        def snap():
            return {"calls": [c.to_dict() for c in self.switch.active()],
                    "seats": [b.to_dict() for b in self.sip.bindings.values()],
                    "media_endpoints": self.media.in_use,
                    "sip": dict(self.transport.counters, **self.sip.counters),
                    "dialogs": len(self.sip.dialogs)}
        return self.call(snap)
