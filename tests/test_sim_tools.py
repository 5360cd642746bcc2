"""The scale and scanner simulators as a technician uses them from a shell: repeated reads of a
7E1 scale, a simulator started in the background with `&`, its keyboard commands, and unknown
commands that are reported instead of ending the simulator."""
from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cli import main
from conftest import read_line, wait_for
from sim.scale_devices import SimScale

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("protocol", ["toledo-continuous", "toledo-8217"])
def test_a_7e1_scale_reads_again_and_again(protocol):
    with SimScale(protocol, settle_s=0) as sim:
        sim.set_weight(1250, settle=False)
        for i in range(3):
            res = CliRunner().invoke(main, ["scale", "read", sim.path, "-p", protocol, "--timeout", "5"])
            assert res.exit_code == 0 and "1250 g" in res.output, (i, res.output)


def _pty_output(fd, until: str, timeout: float = 20.0) -> str:
    """Read the pty ``fd`` until ``until`` appears."""
    out, deadline = b"", time.monotonic() + timeout
    while until.encode() not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"no {until!r} on the terminal; got {out!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out.decode(errors="replace")


def test_a_scale_simulator_started_with_ampersand_keeps_serving(tmp_path):
    """An interactive shell (job control on) runs it as a background job on the terminal."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash for job control")
    link = str(tmp_path / "scale")
    cmd = (f"{sys.executable} cli.py sim scale -p toledo-continuous --weight 1250 --settle 0 --link {link} & "
           "echo \"job $!\"; wait")
    pid, fd = pty.fork()
    if pid == 0:                                          # the child: a shell with job control
        os.chdir(ROOT)
        os.execv(bash, [bash, "--norc", "--noprofile", "-m", "-c", cmd])
    job = None
    try:
        text = _pty_output(fd, "\n", timeout=20)
        job = int(text.split("job ", 1)[1].split()[0])
        wait_for(lambda: os.path.exists(link), what="the scale's link")
        res = CliRunner().invoke(main, ["scale", "read", link, "-p", "toledo-continuous", "--timeout", "5"])
        state = open(f"/proc/{job}/stat").read().rsplit(")", 1)[1].split()[0]
        assert state != "T", "the simulator was stopped by the terminal"
        assert res.exit_code == 0 and "1250 g" in res.output, res.output
    finally:
        if job:
            os.kill(job, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def test_scale_keyboard_commands_are_listed_and_unknown_ones_reported(tmp_path):
    res = CliRunner().invoke(main, ["sim", "scale", "--help"])
    for cmd in ("1250 ", "tare", "zero", "clear", "unplug", "replug", "quit"):
        assert cmd in res.output, cmd
    proc = subprocess.Popen([sys.executable, "cli.py", "sim", "scale", "-p", "mt-sics", "--settle", "0"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1)
    try:
        path = read_line(proc.stdout, what="the pty").strip()
        banner = read_line(proc.stderr, what="the command list")
        assert "commands: GRAMS [SECONDS], zero, tare, clear, unplug, replug, quit" in banner
        proc.stdin.write("heavy\n")
        proc.stdin.flush()
        assert "unknown command 'heavy'" in read_line(proc.stderr, what="the complaint")
        proc.stdin.write("2000\n")
        proc.stdin.flush()
        wait_for(lambda: "2000 g" in CliRunner().invoke(main, ["scale", "read", path, "-p", "mt-sics",
                                                               "--timeout", "2"]).output,
                 what="the new weight", timeout=20)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)


def test_scanner_simulator_reports_an_unknown_command_and_goes_on(tmp_path):
    script = tmp_path / "reads.txt"
    script.write_text("YT1234567890123\n@unplg\n@upload W7 not-json\nYT1234567890124\n")
    res = CliRunner().invoke(main, ["sim", "scanner", "--script", str(script), "--linger", "0"])
    assert res.exit_code == 0, res.output
    assert "error: unknown command @unplg" in res.output
    assert "records are not JSON" in res.output
    assert "sent YT1234567890124" in res.output
    res = CliRunner().invoke(main, ["sim", "scanner", "--help"])
    assert "@sleep 0.5" in res.output and "Examples" in res.output
