"""HID keyboard-wedge guns: boot keyboard input reports -> text.

A gun in keyboard mode "types" each read: one 8-byte boot report per key state change::

    modifiers  reserved  key1 key2 key3 key4 key5 key6

Modifier bits: 0 left Ctrl, 1 left Shift, 2 left Alt, 3 left GUI, 4 right Ctrl, 5 right Shift,
6 right Alt (AltGr), 7 right GUI.  Keys are usages of page 0x07: 4-29 letters, 30-39 ``1``-``9``
``0``, 40 Enter, 43 Tab, 44 Space, 57 Caps Lock, 83 Num Lock, 84-99 keypad (88 keypad Enter).
A key is typed when its usage appears in a report and was not in the previous one; a report of
all ``0x01`` (ErrorRollOver) is ignored.

Options:

``layout``       ``us`` (default), ``uk``, ``de``, ``fr``: the layout the gun is set to type for.
``terminators``  keys that end a read: any of ``enter``, ``kp-enter``, ``tab`` (default all).
``report_id``    ``None`` (default: 8-byte reports) or the report id byte that precedes each
                 report on a device with several report types (9-byte reports).
``caps_lock``    initial Caps Lock state (default off); the Caps Lock key toggles it.
``num_lock``     initial Num Lock state (default on); the Num Lock key toggles it.

Alt + keypad digits (a gun's "Alt mode" for characters the layout lacks) type one character on
Alt release: ``0nnn`` is a Windows-1252 byte, ``nnn`` < 256 a code page 437 byte, larger numbers a
Unicode code point.  A key the layout cannot type (F1, an unknown usage, a dead key not followed by
Space) spoils the read in progress: it is refused at its terminator, never delivered altered.
"""
from __future__ import annotations

from drivers.scanner.base import ScannerDecoder
from drivers.scanner.errors import ScannerOptionError
from drivers.scanner.keyboard_layouts import CTRL, KEYPAD, KEYPAD_ALWAYS, LAYOUTS
from drivers.scanner.read import Read

ENTER, TAB, KP_ENTER, CAPS_LOCK, NUM_LOCK, SPACE = 40, 43, 88, 57, 83, 44
TERMINATOR_KEYS = {"enter": ENTER, "kp-enter": KP_ENTER, "tab": TAB}
MOD_CTRL, MOD_SHIFT, MOD_ALT, MOD_ALTGR = 0x11, 0x22, 0x04, 0x40
ROLLOVER = bytes([1] * 6)
MAX_READ = 1024


class HidKeyboardDecoder(ScannerDecoder):
    """Decoder for keyboard-wedge guns (see the module docstring for the options)."""

    name = "hid-keyboard"
    summary = "keyboard-wedge guns: boot keyboard reports (layouts us, uk, de, fr)"
    transport = "hid"

    def __init__(self, device_id: str = "scanner", *, layout: str = "us",
                 terminators=("enter", "kp-enter", "tab"), report_id: int | None = None,
                 caps_lock: bool = False, num_lock: bool = True, clock=None):
        super().__init__(device_id, clock=clock)
        if layout not in LAYOUTS:
            raise ScannerOptionError(f"unknown keyboard layout {layout!r} (known: {', '.join(LAYOUTS)})")
        if isinstance(terminators, str):
            terminators = [t.strip() for t in terminators.split(",")]
        bad = [t for t in terminators if t not in TERMINATOR_KEYS]
        if bad or not terminators:
            raise ScannerOptionError(f"terminators must be among {', '.join(TERMINATOR_KEYS)}: {bad}")
        if report_id is not None and not (isinstance(report_id, int) and 0 < report_id < 256):
            raise ScannerOptionError("report_id must be None or 1-255")
        self.layout_name, self.layout = layout, LAYOUTS[layout]
        self.terminator_keys = {TERMINATOR_KEYS[t] for t in terminators}
        self.report_id = report_id
        self.report_size = 8 if report_id is None else 9
        self.initial_caps, self.initial_num = bool(caps_lock), bool(num_lock)
        self._buf = bytearray()
        self.reset()

    def reset(self) -> None:
        self._buf.clear()
        self._prev: set[int] = set()
        self._text: list[str] = []
        self._spoiled: str | None = None
        self._dead: str | None = None
        self._alt_digits: str | None = None
        self.caps_lock, self.num_lock = self.initial_caps, self.initial_num

    def _feed(self, data: bytes) -> list[Read]:
        self._buf += data
        reads = []
        size = self.report_size
        while len(self._buf) >= size:
            report = bytes(self._buf[:size])
            del self._buf[:size]
            if self.report_id is not None:
                if report[0] != self.report_id:
                    self._bad(f"report id {report[0]} is not {self.report_id}", size)
                    continue
                report = report[1:]
            read = self.report(report)
            if read is not None:
                reads.append(read)
        return reads

    def report(self, report: bytes) -> Read | None:
        """Apply one 8-byte boot report; returns a read when it typed a terminator."""
        mods, keys = report[0], report[2:8]
        if keys == ROLLOVER:
            return None
        if report[1] != 0:
            self._bad("boot report with a non-zero reserved byte", len(report))
            return None
        if self._alt_digits is not None and not mods & MOD_ALT:
            self._finish_alt()
        now = [k for k in keys if k]
        read = None
        for key in now:
            if key in self._prev:
                continue
            if key in self.terminator_keys:
                read = self._finish() or read
            else:
                self._key(key, mods)
        self._prev = set(now)
        return read

    def _key(self, key: int, mods: int) -> None:
        if key == CAPS_LOCK:
            self.caps_lock = not self.caps_lock
            return
        if key == NUM_LOCK:
            self.num_lock = not self.num_lock
            return
        if 0xE0 <= key <= 0xE7:
            return                                   # modifiers reported as keys: nothing typed
        if mods & MOD_ALT and not mods & MOD_CTRL and key in KEYPAD and KEYPAD[key].isdigit():
            self._alt_digits = (self._alt_digits or "") + KEYPAD[key]
            return
        if key in KEYPAD and (self.num_lock or key in KEYPAD_ALWAYS):
            self._type(KEYPAD[key])
            return
        if mods & MOD_CTRL and not mods & MOD_ALTGR:
            ch = CTRL.get(key)
            if ch is None:
                self._spoil(f"Ctrl + key {key:#04x} types nothing")
            else:
                self._type(ch)
            return
        levels = self.layout.get(key)
        if levels is None:
            self._spoil(f"key usage {key:#04x} is not typable with layout {self.layout_name}")
            return
        if mods & MOD_ALTGR:
            ch = levels[2] if len(levels) > 2 else None
        else:
            shifted = bool(mods & MOD_SHIFT)
            if self.caps_lock and levels[0] and levels[0].isalpha() and levels[1] == levels[0].upper():
                shifted = not shifted
            ch = levels[1] if shifted else levels[0]
        if ch is None:
            self._spoil(f"key usage {key:#04x} with modifiers {mods:#04x} types nothing")
        elif ch.startswith("dead:"):
            if self._dead is not None:
                self._spoil("two dead keys in a row")
            self._dead = ch[5:]
        else:
            self._type(ch)

    def _type(self, ch: str) -> None:
        if self._dead is not None:
            dead, self._dead = self._dead, None
            if ch != " ":
                self._spoil(f"dead key {dead!r} before {ch!r}: compose is not supported")
                return
            ch = dead
        if len(self._text) >= MAX_READ:
            self._spoil("read longer than 1024 characters")
            return
        self._text.append(ch)

    def _finish_alt(self) -> None:
        digits, self._alt_digits = self._alt_digits, None
        value = int(digits)
        try:
            if digits.startswith("0") and value < 256:
                ch = bytes([value]).decode("cp1252")
            elif value < 256:
                ch = bytes([value]).decode("cp437")
            else:
                ch = chr(value)
        except (UnicodeDecodeError, ValueError, OverflowError):
            self._spoil(f"Alt+{digits} is not a character")
            return
        self._type(ch)

    def _spoil(self, reason: str) -> None:
        if self._spoiled is None:
            self._spoiled = reason

    def _finish(self) -> Read | None:
        if self._alt_digits is not None:
            self._finish_alt()
        if self._dead is not None:
            self._spoil("dead key at the end of a read")
        text, spoiled = "".join(self._text), self._spoiled
        self._text, self._spoiled, self._dead = [], None, None
        if spoiled:
            self._bad(spoiled)
            return None
        if not text:
            return None
        return self._read(text)
