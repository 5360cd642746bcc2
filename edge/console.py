"""The station console of ``scanhub edge run``: what the operator at the station looks at.

In a terminal it is one full screen (rich's live display), redrawn as things change:

* the scanning context of each gun: kind, operator, site, destination, shift and the next stop a
  dispatch would get;
* the last verdict, large and coloured (green accepted, red refused, blue control), with an
  arrival's weight or a dispatch's next stop, and a refusal's reason in words;
* the link (online / offline since when, scans waiting for the hub), each device (connected or
  not, a scale's last weight) and the outbox fill;
* the last events (verdicts, link and device changes, warnings).

Piped (or with ``--plain``) it prints one line per verdict (``[gun-1] accepted receive 7000…``)
and one per link or device change (``link: offline since 10:02:13 (3 pending)``).

Sounds: a *good* sound for an accepted scan or a control code, an *error* sound for a refusal.
On a terminal the good sound is one bell (BEL) and the error sound three bells 0.2 s apart; in
plain mode on a terminal the bells end the verdict's line (one, or three); piped, the lines carry
no bells.  ``--good-sound`` / ``--error-sound``
run a command instead (``aplay /usr/share/sounds/…``).
"""
from __future__ import annotations

import collections
import functools
import logging
import os
import shlex
import subprocess
import sys
import threading
import time
from typing import Callable

from edge.clock import wall_ms
from edge.devices import device_states

GOOD, ERROR = "good", "error"
DEVICE_SETTLE_S = 1.0
PICKUP_ROWS = 8                               # open pickup tasks the full screen lists
COLOURS = {"accepted": "green", "refused": "red", "control": "blue"}
WORDS = {"accepted": "ACCEPTED", "refused": "REFUSED", "control": "OK"}
LABELS = {"scanner": "gun"}                   # what operators call a scanner


def sound_of(verdict) -> str:
    """``good`` for an accepted scan or a control code, ``error`` for a refusal."""
    return ERROR if verdict.outcome == "refused" else GOOD


def clock_text(ms: int | None) -> str:
    """HH:MM:SS local time of a UTC epoch-ms time (what an operator reads off a wall clock)."""
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000)) if ms else "?"


class Sounds:
    """Plays the good and the error sound: bells written with ``write``, or a command each."""

    def __init__(self, write: Callable[[str], None], good_cmd: str | None = None,
                 error_cmd: str | None = None, gap_s: float = 0.2):
        self.write, self.gap_s = write, gap_s
        self.cmds = {GOOD: shlex.split(good_cmd) if good_cmd else None,
                     ERROR: shlex.split(error_cmd) if error_cmd else None}

    def bells(self, which: str) -> str:
        return "\a" if which == GOOD else "\a\a\a"

    def play(self, which: str) -> None:
        cmd = self.cmds.get(which)
        if cmd:
            try:
                subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            except OSError:
                self.write("\a")
            return
        if which == GOOD:
            self.write("\a")
            return

        def ring():                     # apart in time, or a terminal plays them as one
            for i in range(3):
                if i:
                    time.sleep(self.gap_s)
                self.write("\a")
        threading.Thread(target=ring, name="error-sound", daemon=True).start()


class StationScreen:
    """What the console shows, read from a running ``EdgeAgent`` (``edge.agent``).

    ``verdict()`` records a scan's answer; ``changes()`` returns the link and device changes since
    its last call as lines (the plain mode prints them; the screen lists them as events);
    ``context_rows()``, ``link()``, ``devices()`` and ``fill()`` are the screen's parts as data;
    ``render()`` is the whole screen as a rich renderable.
    """

    def __init__(self, agent, history: int = 8):
        self.agent = agent
        self.last = None                          # (device, verdict, ms, scanned text)
        self.events: collections.deque = collections.deque(maxlen=history)
        self.typed = ""                           # what the keyboard has typed so far (--stdin)
        self.wake = threading.Event()             # set: redraw now
        self._bells: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._link = False                        # a station starts offline: its first connection is a change
        self._devs: dict[str, tuple] = {}
        self._pickup_codes: set[str] | None = None   # the open tasks last reported (changes())
        # devices are first reported once they had a moment to open (a port being opened is
        # not yet "not connected"); from then on each change is a line
        self._devices_from = time.monotonic() + DEVICE_SETTLE_S

    # ---------------------------------------------------------------- inputs
    def verdict(self, device: str, verdict, text: str = "") -> None:
        now = wall_ms()
        with self._lock:
            self.last = (device, verdict, now, text)
            self.events.appendleft((now, verdict.outcome, verdict_line(device, verdict)))

    def ring(self, bells: str) -> None:
        """Queue bells for the drawing thread (a bell written from another thread could land
        inside an escape sequence of a frame being drawn)."""
        self._bells.append(bells)
        self.wake.set()

    def take_bells(self) -> str:
        out = []
        while self._bells:
            out.append(self._bells.popleft())
        return "".join(out)

    def note(self, line: str, style: str = "warning") -> None:
        with self._lock:
            self.events.appendleft((wall_ms(), style, line))

    def changes(self) -> list[str]:
        """Link and device changes since the last call, one line each (each device's state once
        at first, a second after the start)."""
        out = []
        link = self.link()
        if link["online"] != self._link:
            out.append(link_line(link))
        self._link = link["online"]
        for d in self.devices() if time.monotonic() >= self._devices_from else []:
            key = (d["type"], d["id"])
            now = (d["connected"],)
            if self._devs.get(key) != now:
                out.append(device_line(d))
            self._devs[key] = now
        tasks = self.pickups()
        codes = {t["code"] for t in tasks}
        if self.agent.pickup is not None and self._pickup_codes is None and not codes:
            self._pickup_codes = codes         # an empty first list is not news
        elif self.agent.pickup is not None and codes != self._pickup_codes:
            out.append(pickup_line(tasks, codes - (self._pickup_codes or set()), (self._pickup_codes or set()) - codes))
            self._pickup_codes = codes
        for line in out:
            self.note(line, "change")
        return out

    # ---------------------------------------------------------------- parts
    def context_rows(self) -> list[dict]:
        """One row per device that has chosen a kind or an operator: ``device``, ``kind``, ``operator`` (with the
        staff name when the configuration has it), ``site``, ``dest``, ``shift``, ``next_stop``."""
        cap = self.agent.capture
        view = cap.view
        rows = []
        for device, c in sorted(dict(cap.contexts).items()):
            if not (c.kind or c.operator):     # e.g. a wireless gun's upload: its records carry their own
                continue
            name = (view.staff.get(c.operator) or {}).get("name") if c.operator else None
            nxt = None
            if c.kind == "dispatch":
                nxt = c.site_ref or view.routing.resolve(cap.site, c.dest, c.shift)
            rows.append({"device": device, "kind": c.kind, "operator": c.operator, "operator_name": name,
                         "site": c.site_ref, "dest": c.dest, "shift": c.shift, "next_stop": nxt,
                         "pickup": c.pickup, "pickup_left": c.pickup_left})
        return rows

    def pickups(self) -> list[dict]:
        """The site's open pickup tasks (``contract.pickup``), earliest window first, each with
        ``overdue`` (its window has ended)."""
        now = wall_ms()
        return [dict(t, overdue=t["window_to_ms"] < now) for t in self.agent.pickup_tasks()]

    def link(self) -> dict:
        up = self.agent.uplink
        return {"online": up.connected.is_set(), "since_ms": up.link_since_ms, "pending": self.agent.outbox.pending}

    def devices(self) -> list[dict]:
        return device_states(self.agent)

    def fill(self) -> dict:
        return self.agent.outbox.usage()

    def entry(self) -> dict:
        """Waybill entry (``edge.entry``): records entered here, waiting for the hub, refused by it."""
        return self.agent.outbox.waybill_counts()

    # ---------------------------------------------------------------- the screen
    def render(self, width: int = 80):
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        cfg = self.agent.cfg
        head = Table.grid(expand=True, padding=(0, 2))
        for _ in range(6):
            head.add_column()
        head.add_row(*[Text(h, style="bold dim") for h in ("GUN", "KIND", "OPERATOR", "SITE", "SHIFT", "NEXT STOP")])
        rows = self.context_rows()
        if not rows:
            head.add_row("-", Text("scan a kind code (%K…)", style="yellow"), Text("and your staff code (%P…)",
                                                                                   style="yellow"), "", "", "")
        for r in rows:
            op = Text(r["operator"] or "not logged in", style="bold" if r["operator"] else "yellow")
            if r["operator_name"]:
                op.append(f" {r['operator_name']}")
            site = " ".join(filter(None, (r["site"], f"dest {r['dest']}" if r["dest"] else None,
                                          f"pickup {r['pickup']} ({r['pickup_left']} to go)" if r["pickup"] else None))) or "-"
            head.add_row(r["device"], Text((r["kind"] or "no kind").upper(), style="bold cyan"), op, site,
                         r["shift"] or "-", Text(r["next_stop"] or "-", style="bold"))
        context = Panel(head, title=f"station {cfg.station} - site {cfg.site}", title_align="left")

        with self._lock:
            last, events = self.last, list(self.events)
        if last is None:
            big = Panel(Text("ready: scan a barcode", justify="center", style="bold"), height=9)
        else:
            device, v, ms, text = last
            colour = COLOURS[v.outcome]
            body = Text(justify="center")
            art = banner(WORDS[v.outcome], width - 4)
            body.append(art + "\n", style=f"bold {colour}")
            if v.outcome == "accepted":
                body.append(f"{v.scan['kind']} {v.scan['waybill']}", style="bold")
                if v.detail:
                    body.append(f"\n{v.detail}", style=f"bold {colour}")
                if v.warning:
                    body.append(f"\n{v.warning}", style="yellow")
            else:
                if v.outcome == "refused" and text:
                    body.append(f"{text}\n", style="bold")
                body.append(v.reason, style="bold")
            big = Panel(body, border_style=colour, title=f"{device} {clock_text(ms)}", title_align="left")

        link = self.link()
        st = Table.grid(padding=(0, 1))
        st.add_column(style="bold dim", no_wrap=True)
        st.add_column()
        st.add_row("link", Text(link_line(link).removeprefix("link: "), style="green" if link["online"] else "bold red"))
        for d in self.devices():
            st.add_row(LABELS.get(d["type"], d["type"]), Text(device_line(d).split(": ", 1)[1], style="green" if d["connected"] else "bold red"))
        if not self.agent.devices:
            st.add_row("devices", Text("none in the station file (keyboard only)", style="dim"))
        u = self.fill()
        st.add_row("outbox", Text(fill_line(u), style="bold yellow" if u["warning"] else ""))
        version = (self.agent.config or {}).get("version")
        st.add_row("config", Text(f"version {version} from the hub" if version else
                                  "none yet: the hub has not been reached", style="" if version else "yellow"))
        if self.agent.config_error:
            st.add_row("", Text(self.agent.config_error, style="bold red"))
        st.add_row("entry", Text(entry_line(self.entry()), style="bold red" if self.entry()["rejected"] else ""))
        near = prepaid_line(self.agent.config or {})
        if near:
            st.add_row("prepaid", Text(near, style="bold yellow"))
        if self.typed:
            st.add_row("typing", Text(self.typed, style="bold"))
        tasks = self.pickups()
        pk = Table.grid(expand=True, padding=(0, 2))
        for _ in range(5):
            pk.add_column()
        if self.agent.pickup is None:
            pk.add_row(Text("no task list from the hub yet", style="dim"), "", "", "", "")
        elif not tasks:
            pk.add_row(Text("no open pickups", style="dim"), "", "", "", "")
        for t in tasks[:PICKUP_ROWS]:
            pk.add_row(Text(t["code"], style="bold"), Text(window_text(t), style="bold red" if t["overdue"] else ""),
                       f"{t.get('sender', '')} {t.get('phone', '')}".strip(), t["address"], f"{t['parcels']} pc")
        if len(tasks) > PICKUP_ROWS:
            pk.add_row(Text(f"… {len(tasks) - PICKUP_ROWS} more (scanhub edge pickups)", style="dim"), "", "", "", "")
        pickups = Panel(pk, title=f"pickups ({len(tasks)} open): scan %KRECEIVE, %U<code>, then the labels",
                        title_align="left")
        ev = Text()
        for ms, kind, line in events:
            ev.append(f"{clock_text(ms)} ", style="dim")
            ev.append(line + "\n", style=COLOURS.get(kind, "yellow"))
        return Group(context, big, st, pickups, Panel(ev, title="recent", title_align="left", border_style="dim"))


@functools.lru_cache(maxsize=32)      # the screen is redrawn four times a second
def banner(word: str, width: int) -> str:
    """``word`` in large letters that fit ``width`` columns (plain bold text when none fit)."""
    try:
        import pyfiglet
    except ImportError:
        return word
    for font in ("ansi_regular", "standard"):
        art = pyfiglet.figlet_format(word, font=font, width=10_000).rstrip("\n")
        lines = [ln.rstrip() for ln in art.splitlines()]
        while lines and not lines[-1].strip():
            lines.pop()
        if lines and max(len(ln) for ln in lines) <= width:
            w = max(len(ln) for ln in lines)
            return "\n".join(ln.ljust(w) for ln in lines)
    return word


def window_text(t: dict) -> str:
    """A task's time window in the station's local time (``HH:MM-HH:MM``, dated when not today)."""
    import datetime as dt
    a = dt.datetime.fromtimestamp(t["window_from_ms"] / 1000)
    b = dt.datetime.fromtimestamp(t["window_to_ms"] / 1000)
    day = "" if a.date() == dt.date.today() else a.strftime("%m-%d ")
    end = b.strftime("%H:%M") if b.date() == a.date() else b.strftime("%m-%d %H:%M")
    return f"{day}{a:%H:%M}-{end}" + (" OVERDUE" if t.get("overdue") else "")


def pickup_line(tasks: list[dict], added: set[str], gone: set[str]) -> str:
    """The plain console's line when the task list changes."""
    line = f"pickups: {len(tasks)} open"
    if added:
        line += "; new " + ", ".join(
            f"{t['code']} ({window_text(t)}, {t['parcels']} pc, {t['address'][:40]})"
            for t in tasks if t["code"] in added)
    if gone:
        line += "; closed or cancelled " + ", ".join(sorted(gone))
    return line


def verdict_line(device: str, verdict) -> str:
    return f"[{device}] {verdict}"


def link_line(link: dict) -> str:
    when = clock_text(link["since_ms"])
    if link["online"]:
        return f"link: online since {when} ({link['pending']} pending)"
    return f"link: offline since {when} ({link['pending']} pending)"


def device_line(d: dict) -> str:
    if d["connected"]:
        state = "connected"
        if d["type"] == "scale":
            w = d.get("weight_g")
            state += f", last weight {w} g" + ("" if d.get("stable") else " (moving)") if w is not None else ", no weight yet"
    else:
        state = f"not connected ({d['state']})"
    return f"{LABELS.get(d['type'], d['type'])} {d['id']}: {state}"


def prepaid_line(cfg: dict) -> str | None:
    """The warning of a prepaid site close to being blocked (the hub's ``prepaid.parcels_left``
    in the configuration slice: the fees of its parcels in flight count), or None."""
    left = (cfg.get("prepaid") or {}).get("parcels_left")
    if not isinstance(left, int):
        return None
    if left <= 0:
        return "blocked with the next parcel: top up the prepaid account"
    return f"blocked in about {left} parcel{'s' if left != 1 else ''}: top up the prepaid account"


def entry_line(c: dict) -> str:
    """The waybill entry row: how to enter one (quick entry), and what became of those entered."""
    line = "+NUMBER DEST KG [LxWxH] [cod=YUAN] enters a waybill"
    if c["entered"]:
        line += f"; {c['entered']} entered, {c['pending']} waiting for the hub"
        if c["rejected"]:
            line += f", {c['rejected']} refused by the hub (scanhub edge outbox --waybills)"
    return line


def fill_line(u: dict) -> str:
    line = f"{u['pending']} of {u['limit']} ({u['fraction']:.1%})"
    if u.get("full"):
        line += " - FULL: scans are refused"
    elif u.get("warning"):
        line += " - above 80% or holding old scans: check the link"
    return line


# -------------------------------------------------------------------- running
class ScreenLog(logging.Handler):
    """Warnings from the agent go to the screen's events, not over the full-screen display."""

    def __init__(self, screen: StationScreen):
        super().__init__(logging.WARNING)
        self.screen = screen

    def emit(self, record):
        try:
            self.screen.note(record.getMessage())
        except Exception:
            pass


def run_plain(agent, screen: StationScreen, done: threading.Event, out=None) -> None:
    """Print link and device changes until ``done`` (verdict lines come from ``plain_verdict``)."""
    while not done.wait(0.25):
        for line in screen.changes():
            _write_line(out, line)


_out_lock = threading.Lock()


def _write_line(out, line: str) -> None:
    out = out or sys.stdout
    with _out_lock:
        out.write(line + "\n")
        out.flush()


def plain_verdict(screen: StationScreen, sounds: Sounds, out=None, bells: bool = True):
    """The ``on_verdict`` of plain mode: one line per verdict, ending with its bells (``bells``:
    standard output is a terminal; a log file or a pipe gets clean lines)."""
    def show(device, text, verdict):
        screen.verdict(device, verdict, text)
        which = sound_of(verdict)
        if sounds.cmds.get(which):
            sounds.play(which)
            _write_line(out, verdict_line(device, verdict))
        else:
            _write_line(out, verdict_line(device, verdict) + (sounds.bells(which) if bells else ""))
    return show


class Keyboard:
    """Reads a terminal without echo, a character at a time: typed text shows on the screen and
    each Enter hands a line to ``on_line`` (keyboard-wedge guns type their barcode and Enter)."""

    def __init__(self, screen: StationScreen, on_line: Callable[[str], None], fd: int | None = None):
        self.screen, self.on_line = screen, on_line
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._saved = None

    def __enter__(self):
        import termios
        import tty
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)          # no echo, no line buffering; Ctrl-C still stops
        return self

    def __exit__(self, *exc):
        import termios
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def run(self, done: threading.Event, wake: threading.Event) -> None:
        import select
        while not done.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.25)
            if not ready:
                continue
            data = os.read(self.fd, 1024)
            if not data:
                return
            self.screen.typed, lines = edit(self.screen.typed, data.decode("utf-8", "replace"))
            for line in lines:
                self.on_line(line)
            wake.set()


MAX_TYPED = 200         # longer than any barcode: a stuck key does not grow the line for ever


def edit(typed: str, keys: str) -> tuple[str, list[str]]:
    """Apply typed ``keys`` to the line being typed: Enter ends a line, Backspace and Ctrl-U edit,
    other control characters are dropped.  Returns the new typed text and the finished lines
    (stripped, never empty)."""
    lines = []
    for ch in keys:
        if ch in "\r\n":
            line, typed = typed.strip(), ""
            if line:
                lines.append(line)
        elif ch in "\x7f\b":
            typed = typed[:-1]
        elif ch == "\x15":                        # Ctrl-U: drop the line
            typed = ""
        elif ch.isprintable() and len(typed) < MAX_TYPED:
            typed += ch
    return typed, lines


def run_full_screen(agent, screen: StationScreen, sounds: Sounds, done: threading.Event,
                    keyboard: Keyboard | None = None) -> None:
    """Draw the console until ``done`` (the caller wires verdicts to ``screen`` and ``sounds``)."""
    from rich.console import Console
    from rich.live import Live
    console = Console()
    wake = screen.wake
    handler = ScreenLog(screen)
    root = logging.getLogger()
    old_handlers = root.handlers[:]
    root.handlers = [handler]
    try:
        with Live(screen.render(console.width), console=console, screen=True, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
            kb = None
            if keyboard is not None:
                kb = threading.Thread(target=keyboard.run, args=(done, wake), name="keyboard", daemon=True)
                kb.start()
            next_poll = 0.0
            while not done.is_set():
                wake.wait(0.25)
                wake.clear()
                if time.monotonic() >= next_poll:
                    screen.changes()
                    next_poll = time.monotonic() + 0.25
                try:
                    view = screen.render(console.width)
                except Exception as e:      # a drawing fault must not stop the scanning
                    from rich.text import Text
                    view = Text(f"the station screen could not be drawn ({e}); scans are still taken",
                                style="bold red")
                live.update(view, refresh=True)
                bells = screen.take_bells()
                if bells:
                    console.file.write(bells)
                    console.file.flush()
    finally:
        root.handlers = old_handlers


def full_screen_verdict(screen: StationScreen, sounds: Sounds):
    """The ``on_verdict`` of the full screen: record, play the sound, redraw now."""
    def show(device, text, verdict):
        screen.verdict(device, verdict, text)
        sounds.play(sound_of(verdict))
        screen.wake.set()
    return show


def status_lines(st: dict) -> list[str]:
    """The devices part of ``scanhub edge status`` (from the running station's last status)."""
    devs = st.get("devices")
    if devs is None:
        return []
    if not devs:
        return ["  devices: none in the station file"]
    out = []
    for d in devs:
        if isinstance(d, dict) and "connected" in d:
            out.append("  " + device_line(d))
    return out

