"""The operator's side of a simulated gun across separate commands (``scanhub sim gun login``,
``scan``, ``scans``, ``upload``): the gun's active image from its directory, a ``GunApp`` on it,
and the app's state kept in the directory so each command finds the gun as the last one left it.

Directory layout (beside what ``sim.gun_storage`` keeps)::

    app/scans.json     stored scans and the gun's sequence number (``GunApp``'s own file)
    app/login.json     {"login": <logged-in user or null>, "failures": {login: wrong PINs in a row}}

``reboot(dir)`` is the gun restarting (``sim gun run``): the user is logged out and PIN lockouts
end; stored scans stay.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from sim.gun_app import GunApp, LoginRefused
from sim.gun_storage import GunStorage


class OperatorError(Exception):
    """The gun cannot be used yet (no image, not provisioned) or the upload was not acknowledged."""


def reboot(directory) -> None:
    path = Path(directory) / "app" / "login.json"
    if path.exists():
        path.unlink()


class GunOperator:
    def __init__(self, directory, clock_ms=None):
        self.dir = Path(directory)
        if not (self.dir / "identity.json").exists():
            raise OperatorError(f"{directory}: no simulated gun here (start one with "
                                f"`scanhub sim gun run --dir {directory}`)")
        storage = GunStorage(self.dir, model=None)
        image = storage.active_image()
        if image is None:
            raise OperatorError(f"gun {storage.identity['gun_id']} has no image yet: flash one with "
                                "`scanhub gun flash PTY --site SITE`")
        self.app = GunApp(image, storage.public_key, storage.identity["gun_id"],
                          store_dir=self.dir / "app", clock_ms=clock_ms)
        self._state_path = self.dir / "app" / "login.json"
        state = json.loads(self._state_path.read_text()) if self._state_path.exists() else {}
        self.app._failures = dict(state.get("failures") or {})
        login = state.get("login")
        self.app.user = self.app.users.get(login) if login else None

    def _save(self) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"login": self.app.user["login"] if self.app.user else None,
                                   "failures": self.app._failures}))
        tmp.replace(self._state_path)

    def login(self, login: str, pin: str) -> dict:
        try:
            return self.app.login(login, pin)
        except LoginRefused:
            self.app.user = None
            raise
        finally:
            self._save()

    def logout(self) -> None:
        self.app.logout()
        self._save()

    def scan(self, kind: str, waybill: str, **fields) -> dict:
        return self.app.scan(kind, waybill, **{k: v for k, v in fields.items() if v is not None})

    def upload(self, link: str, wait_s: float = 30.0, every_s: float = 2.0, on_ready=None) -> int:
        """Offer the stored scans on a new pty at ``link`` (a cradle) until the station reading it
        acknowledges the upload; drops the acknowledged scans and returns their count."""
        from sim.scanner_sim import SimScanner

        records = list(self.app.records)
        cradle = SimScanner("batch", link=link)
        try:
            if on_ready:
                on_ready(cradle.path)
            deadline = time.monotonic() + wait_s
            want = f"gun={self.app.gun_id} n={len(records)} ".encode()
            while True:
                cradle.send_upload(self.app.gun_id, records, self.app.info.image_version)
                until = min(deadline, time.monotonic() + every_s)
                while time.monotonic() < until:
                    for line in list(cradle.receipts):
                        if line.startswith(b"~SHB1 ACK ") and want in line + b" ":
                            self.app.confirm_upload(len(records))
                            return len(records)
                        if line.startswith(b"~SHB1 NAK "):
                            cradle.receipts.remove(line)
                    time.sleep(0.05)
                if time.monotonic() >= deadline:
                    raise OperatorError(f"no acknowledgement from a station on {link} within {wait_s:g} s: "
                                        f"the {len(records)} scan(s) stay on the gun; is the station "
                                        "running with this port as a batch scanner?")
        finally:
            cradle.close()
