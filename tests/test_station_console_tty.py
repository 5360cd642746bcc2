"""End to end: `scanhub edge run --stdin` in a real terminal (tmux), driven by keys and read off
the screen, through a scan session with a hub, a link cut, a scale unplugged and a restart.

With ``SCANHUB_PICTURES=<folder>`` the test also saves what the terminal showed at each step as
SVG and PNG (the pictures in docs/pictures/ are made this way)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import needs, wait_for, wb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")
WIDTH, HEIGHT = 100, 42


class Terminal:
    """One tmux server of our own (its own socket) running one command in a WIDTH x HEIGHT window."""

    def __init__(self, tmp_path, name="station"):
        self.sock = str(tmp_path / f"tmux-{name}.sock")      # one server per terminal
        self.name = name
        self.raw = tmp_path / f"{name}.raw"

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True, check=check)

    def start(self, command: str):
        self.raw.write_bytes(b"")
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(WIDTH), "-y", str(HEIGHT), command)
        self.tmux("set-option", "-t", self.name, "remain-on-exit", "on")
        # every byte the program writes to the terminal, bells included
        self.tmux("pipe-pane", "-t", self.name, "-o", f"cat >> {self.raw}")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", self.name, *keys)

    def scan(self, text):
        self.keys("-l", text)
        self.keys("Enter")

    def screen(self, ansi=False) -> str:
        args = ["capture-pane", "-t", self.name, "-p"] + (["-e"] if ansi else [])
        return self.tmux(*args, check=False).stdout

    def wait(self, *words, timeout=30):
        try:
            wait_for(lambda: all(w in self.screen() for w in words), timeout=timeout,
                     what=f"{words} on the station screen")
        except BaseException:
            print(self.screen())          # shown with the failure
            raise
        return self.screen()

    def row(self, label: str) -> str:
        """The status row that starts with ``label`` (``link``, ``scale``, ``outbox``)."""
        return next((ln for ln in self.screen().splitlines() if ln.startswith(label + " ")), "")

    def wait_row(self, label: str, words: str, timeout=30):
        try:
            wait_for(lambda: words in self.row(label), timeout=timeout, what=f"{words!r} in the {label} row")
        except BaseException:
            print(self.screen())
            raise

    def bells(self) -> int:
        return self.raw.read_bytes().count(b"\a")

    def dead(self) -> bool:
        out = self.tmux("list-panes", "-t", self.name, "-F", "#{pane_dead}", check=False).stdout
        return out.strip() in ("1", "")

    def kill(self):
        self.tmux("kill-server", check=False)


def picture(term: Terminal, name: str) -> None:
    """Save the terminal as docs-style SVG and PNG when SCANHUB_PICTURES names a folder."""
    folder = os.environ.get("SCANHUB_PICTURES")
    if not folder:
        return
    from rich.console import Console
    from rich.text import Text
    con = Console(record=True, width=WIDTH, file=open(os.devnull, "w"), force_terminal=True,
                  color_system="truecolor")
    con.print(Text.from_ansi(term.screen(ansi=True).rstrip("\n")))
    svg = os.path.join(folder, f"{name}.svg")
    # a monospace font every Debian machine has (rich names Fira Code, loaded from the web)
    text = con.export_svg(title="scanhub edge run", font_aspect_ratio=0.602)
    text = text.replace('"Fira Code"', '"DejaVu Sans Mono"').replace("Fira Code,", "DejaVu Sans Mono,")
    with open(svg, "w", encoding="utf-8") as f:
        f.write(text)
    import cairosvg
    cairosvg.svg2png(url=svg, write_to=os.path.join(folder, f"{name}.png"))


@pytest.fixture
def sim_scale(tmp_path):
    from sim.scale_devices import SimScale
    s = SimScale("toledo-continuous", link=str(tmp_path / "scale"), rate_hz=20, settle_s=0.05)
    s.set_weight(1250, settle=False)
    yield s
    s.close()


def test_the_station_console_in_a_terminal_through_a_link_cut_and_an_unplugged_scale(
        tmp_path, broker, hub_service, hub_store, sim_scale):
    if not shutil.which("tmux"):
        needs("tmux", "the station console is driven in a real terminal")
    from conftest import SCAN_TABLE
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump({
        "station": "st-100-1", "site": "100", "broker": broker.url, "outbox": str(tmp_path / "st.db"),
        "devices": [{"type": "scale", "protocol": "toledo-continuous", "port": sim_scale.link.link, "id": "scale-1"}]}))
    # the terminal's own size, not one inherited from the test runner's environment
    command = f"cd {ROOT} && exec env -u COLUMNS -u LINES {sys.executable} {CLI} edge run --config {station} --stdin"
    term = Terminal(tmp_path)

    def at_hub():
        import sqlite3
        db = sqlite3.connect(hub_store)
        try:
            return {r[0] for r in db.execute(f"SELECT waybill FROM {SCAN_TABLE}")}
        finally:
            db.close()
    try:
        term.start(command)
        term.wait("station st-100-1 - site 100", "scale  connected, last weight 1250 g", "outbox 0 of 2000000",
                  "config version")
        term.wait_row("link", "online since")
        term.wait_row("link", "(0 pending)")
        picture(term, "station-console-start")

        # the context, always on screen, with the operator's name from the hub's staff list
        term.keys("-l", "%KARR")                           # typed, not echoed: shown in its row
        term.wait_row("typing", "%KARR")
        term.keys("C-u")
        wait_for(lambda: not term.row("typing"), what="Ctrl-U to clear the typed line")
        term.scan("%KARRIVE")
        term.scan("%P1002")
        term.wait("ARRIVE", "1002 Li Qiang", "control: operator 1002")
        bells = term.bells()

        # accepted: large and green, with the weight; the good sound is one bell
        term.scan(wb(1))
        screen = term.wait(f"arrive {wb(1)}", "weight 1250 g", "█")
        assert "REFUSED" not in screen
        wait_for(lambda: term.bells() == bells + 1, what="one bell for an accepted scan")
        wait_for(lambda: wb(1) in at_hub(), what="the scan at the hub")
        term.wait_row("link", "(0 pending)")
        picture(term, "station-console-accepted")

        # refused in words, with three bells
        bells = term.bells()
        term.scan("12345")
        term.wait("not a waybill number: 14 digits starting with 7")
        wait_for(lambda: term.bells() == bells + 3, what="three bells for a refused scan")
        picture(term, "station-console-refused")

        # the link is cut: offline since when, scans pile up as pending, and still accepted
        broker.stop()
        term.wait_row("link", "offline since")
        term.wait("link: offline since")                   # and in the events
        term.scan(wb(2))
        term.wait(f"arrive {wb(2)}")
        term.wait_row("link", "(1 pending)")
        term.wait_row("outbox", "1 of 2000000")

        # the scale is unplugged: shown at once, and an arrival says so instead of "settle"
        sim_scale.unplug()
        term.wait_row("scale", "not connected")
        term.wait("scale scale-1: not connected")
        term.scan(wb(3))
        screen = term.wait("scale not connected (scale-1): plug the scale in")
        assert "settle" not in screen
        picture(term, "station-console-offline-unplugged")

        # both come back: the pending scan goes up, the scale weighs again
        sim_scale.replug()
        broker.start()
        term.wait_row("link", "online since")
        term.wait_row("scale", "connected, last weight 1250 g")
        wait_for(lambda: wb(2) in at_hub(), what="the pending scan at the hub after the link returns")
        term.wait_row("link", "(0 pending)")
        term.scan(wb(3))
        term.wait(f"arrive {wb(3)}")

        # a restart keeps the context and the logged-in operator
        term.keys("C-c")
        wait_for(term.dead, what="the station to stop on Ctrl-C")
        term.kill()
        # the simulator keeps its end of the pty open, so a closed port cannot be opened again
        # as a real one can: a fresh plug gives the restarted station a fresh port
        sim_scale.unplug()
        sim_scale.replug()
        term = Terminal(tmp_path, "again")
        term.start(command)
        term.wait("ARRIVE", "1002 Li Qiang")
        term.wait_row("link", "online since")
        term.scan(wb(4))
        term.wait(f"arrive {wb(4)}", "weight 1250 g")
        wait_for(lambda: wb(4) in at_hub(), what="the scan after the restart at the hub")
        assert wb(3) in at_hub()

        # a dispatch by destination: the next stop from the table, before and after the scan
        term.scan("%KDISPATCH")
        term.scan("%D200")
        screen = term.wait("DISPATCH", "control: destination 200")
        row = next(ln for ln in screen.splitlines() if "DISPATCH" in ln)
        assert row.split()[-2:] == ["900", "│"]              # NEXT STOP column (sample network)
        term.scan(wb(5))
        term.wait(f"dispatch {wb(5)}", "next stop 900")
        picture(term, "station-console-dispatch")
    finally:
        term.kill()


def test_plain_mode_in_a_terminal_rings_once_for_good_and_three_times_for_an_error(tmp_path):
    if not shutil.which("tmux"):
        needs("tmux", "the station console is driven in a real terminal")
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "broker": "mqtt://127.0.0.1:1",
                                       "outbox": str(tmp_path / "st.db"), "staff": ["1002"]}))
    term = Terminal(tmp_path, "plain")
    try:
        term.start(f"cd {ROOT} && exec {sys.executable} {CLI} edge run --config {station} --stdin --plain")
        term.wait("running; outbox")
        term.scan("%KRECEIVE")
        term.scan("%P1002")
        term.wait("control: operator 1002")
        wait_for(lambda: term.bells() == 2, what="one bell per control code")
        term.scan(wb(1))
        term.wait(f"accepted receive {wb(1)}")
        wait_for(lambda: term.bells() == 3, what="one bell for the accepted scan")
        term.scan("%P2001")                                   # not on the station's list
        term.wait("refused: staff 2001 is not on this station's staff list")
        wait_for(lambda: term.bells() == 6, what="three bells for the refusal")
        assert "█" not in term.screen()                      # plain lines, no full screen
    finally:
        term.kill()
