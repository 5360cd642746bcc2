"""Two telephony workers (two ``scanhub pbx run`` processes sharing one SQLite store) behind a
Kamailio dispatcher: SIPp calls Kamailio, Kamailio spreads the calls by Call-ID hash, each worker
routes its calls to an answering SIPp on a SIP trunk; every call is answered, each worker has
CDRs of its own in the shared store.  Kamailio (GPL) runs as a separate process, never imported."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import needs, wait_for
from sip_peers import Sipp, free_udp_port, port_taken, stop_all

ROOT = Path(__file__).resolve().parent.parent
CFG = Path(__file__).resolve().parent / "data" / "kamailio" / "dispatcher.cfg"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
CALLS = 16


def kamailio_bin() -> str:
    path = shutil.which("kamailio") or ("/usr/sbin/kamailio" if os.path.exists("/usr/sbin/kamailio") else None)
    if path is None or not os.path.isdir(MODULES):
        needs("Kamailio", "install the Debian package kamailio (make system-deps does)")
    return path


@pytest.fixture
def cluster(tmp_path):
    kam = kamailio_bin()
    db = tmp_path / "hub.db"
    subprocess.check_call([sys.executable, str(ROOT / "cli.py"), "hub", "init", "--db", str(db)],
                          stdout=subprocess.DEVNULL)
    kport, agent_port = free_udp_port(), free_udp_port()
    procs, workers = [], []
    try:
        for i in (1, 2):
            port = free_udp_port()
            doc = {"sip": {"listen": f"127.0.0.1:{port}", "media_ports": f"{36000 + 400 * i}-{36000 + 400 * i + 199}"},
                   "trunks": [{"name": "dispatcher", "kind": "sip", "host": "127.0.0.1", "port": kport},
                              {"name": "agents", "kind": "sip", "host": "127.0.0.1", "port": agent_port}],
                   "dialplan": [{"number": "8001", "to": "trunk agents", "ring_s": 20}]}
            f = tmp_path / f"pbx{i}.yaml"
            f.write_text(yaml.safe_dump(doc))
            p = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "pbx", "run", str(f), "--db", str(db),
                                  "--worker", f"worker-{i}"], stderr=open(tmp_path / f"pbx{i}.log", "wb"),
                                 stdout=subprocess.DEVNULL, cwd=tmp_path)
            procs.append(p)
            workers.append(port)
        for i, port in enumerate(workers):
            wait_for(lambda: b"pbx running" in (tmp_path / f"pbx{i + 1}.log").read_bytes() or procs[i].poll() is not None,
                     30, f"worker {i + 1} to start")
            assert procs[i].poll() is None, (tmp_path / f"pbx{i + 1}.log").read_text()
        (tmp_path / "dispatcher.list").write_text("".join(f"1 sip:127.0.0.1:{p}\n" for p in workers))
        cfg = CFG.read_text().replace("LISTEN", f"127.0.0.1:{kport}").replace("MODULES", MODULES) \
            .replace("DISPATCHER_LIST", str(tmp_path / "dispatcher.list"))
        (tmp_path / "kamailio.cfg").write_text(cfg)
        k = subprocess.Popen([kam, "-f", str(tmp_path / "kamailio.cfg"), "-DD", "-E", "-Y", str(tmp_path),
                              "-P", str(tmp_path / "kamailio.pid"), "-m", "64", "-M", "8"],
                             stderr=open(tmp_path / "kamailio.log", "wb"), stdout=subprocess.DEVNULL)
        procs.append(k)
        wait_for(lambda: port_taken(kport) or k.poll() is not None, 20, "Kamailio to listen")
        assert k.poll() is None, (tmp_path / "kamailio.log").read_text()[-2000:]
        yield kport, agent_port, db
    finally:
        stop_all(procs)


def test_calls_are_spread_over_two_workers_behind_kamailio(tmp_path, cluster):
    kport, agent_port, db = cluster
    agent = Sipp(tmp_path, "seat.xml", "127.0.0.1:1", port=agent_port, args=["-m", str(CALLS)],
                 name="agents").listening()
    caller = Sipp(tmp_path, "caller.xml", f"127.0.0.1:{kport}", port=free_udp_port(),
                  args=["-s", "8001", "-d", "300", "-m", str(CALLS), "-r", "4", "-l", "4"])
    caller.run(120)
    caller.expect_success()
    agent.expect_success()
    from hub.schema import connect
    from hub.store.db import database
    from hub.telephony.tables import CallRecord
    connect(str(db))
    try:
        wait_for(lambda: CallRecord.select().count() == CALLS, 20, "every CDR in the shared store")
        per_worker = {}
        for r in CallRecord.select():
            assert r.disposition == "answered", r.call_id
            per_worker[r.worker] = per_worker.get(r.worker, 0) + 1
    finally:
        database.close()
    assert set(per_worker) == {"worker-1", "worker-2"}, per_worker
    assert min(per_worker.values()) >= 2, per_worker       # a hash of 16 Call-IDs: both get a share
