"""A TCP relay that can cut a station off the network and bring it back (for demos and tests).

``NetCut(target_port).start()`` listens on a free local port and relays every connection to
``127.0.0.1:target_port``.  ``cut()`` drops all relayed connections and refuses new ones (they are
accepted and closed at once, like a dead uplink); ``restore()`` lets them through again.
"""
from __future__ import annotations

import socket
import threading


class NetCut:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.is_cut = False
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "NetCut":
        threading.Thread(target=self._accept, name="netcut", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.is_cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        _drop(src, dst)

    def cut(self) -> None:
        self.is_cut = True
        with self._lock:
            conns, self._conns = self._conns, []
        _drop(*conns)

    def restore(self) -> None:
        self.is_cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()


def _drop(*socks: socket.socket) -> None:
    """Shut down and close connections, whatever state they are in."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
