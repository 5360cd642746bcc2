"""The README's tour, replayed as written: every line a new user would type, in one shell.

The block between ``<!-- tour -->`` and ``<!-- /tour -->`` runs with ``bash -e`` from the
repository root (a fresh clone in CI, where ``make test`` made ``.venv``).  Two things differ from
a user's run, and only these: the broker port is a free one (two test runs may share a machine),
and ``HOME`` is a temporary folder (the gun signing key goes under ``~/.config``).  The tour starts
the hub and a station in the background and stops them itself; the test kills what is left."""
import os
import re
import signal
import socket
import subprocess

import pytest

from conftest import needs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOUR_PORT = "18830"


def tour_script() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- tour -->\s*```sh\n(.*?)```\s*<!-- /tour -->", text, re.S)
    assert m, "README.md has no tour block between <!-- tour --> and <!-- /tour -->"
    return m.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_tour_runs_as_written(tmp_path):
    from hub.network.broker import BrokerError, find_mosquitto
    try:
        find_mosquitto()
    except BrokerError as e:
        needs("Mosquitto", f"the tour's hub starts its own: {e}")
    venv_bin = os.path.join(ROOT, ".venv", "bin")
    if not os.path.exists(os.path.join(venv_bin, "activate")):
        pytest.skip("no .venv in the checkout (make test makes it)")
    script = tour_script()
    assert TOUR_PORT in script
    script = script.replace(TOUR_PORT, str(free_port()))
    env = dict(os.environ, HOME=str(tmp_path), TMPDIR=str(tmp_path))
    env.pop("SCANHUB_DB", None), env.pop("SCANHUB_BROKER", None), env.pop("SCANHUB_CONFIG", None)
    proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail("the tour did not finish within 240 s:\n" + out[-4000:])
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)      # anything the tour left running
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out[-4000:]
    for expected in ("accepted receive 70000000000016", "accepted receive 70000000000023",
                     "history of 70000000000016", "hub.db: ok", "backed up hub.db", "name: Wang Fang -> Wang Fang (senior)"):
        assert expected in out, f"{expected!r} missing from the tour's output:\n{out[-4000:]}"
