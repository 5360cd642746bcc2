"""Telephony benchmark: call setups per second through our B2BUA against SIPp calling SIPp directly.

    python bench/telephony.py [--rounds 5] [--quick] [--json] [--calls N] [--rate R] [--limit L]

Subject: a SIPp caller on the trunk -> ``scanhub pbx run`` (its own process, SQLite store, CDRs
written) -> a SIPp seat that registered with digest authentication and answers at once (SIPp's
built-in ``uas``).  Baseline, in the same rounds (bench/harness.py: interleaved, order reversed
every other round): SIPp's built-in ``uac`` calling SIPp's ``uas`` directly.  Both place
``--calls`` calls at up to ``--rate`` new calls per second with at most ``--limit`` at once and
hang up at once; the figure is completed calls per second of wall time (setup, answer, BYE).
Goal: the B2BUA at least 0.3x the direct rate.  Also reported: the PBX process's CPU per second
of the run (cores).

Second part, **concurrent calls with RTP both ways** (``--concurrent``, default 180; 30 quick):
that many SIPp callers each play SIPp's A-law sample (g711a.pcap, 50 packets/s) for
``--talk`` seconds while the answering SIPp echoes every RTP packet back (``-rtp_echo``), so media
flows both ways through our relay; baseline: the same callers and echo, SIPp to SIPp directly.
Measured once every call is up (ramp-up excluded), over the steady window: the CPU of our
process (from /proc, not wall time) against the CPU both SIPp processes need for the same calls
directly.  Goal: our process at most one core.
Needs SIPp (Debian package sip-tester).

``--section dtmf``: a key to the start of the next prompt, on the real path of an IVR call: the
simulated carrier calls the IVR on an R2 span of a PBX in this process and keys ``1`` in-band
(the E1 driver's detector hears it); the figure is the time from the call's ``dtmf`` event to
the ``prompt`` event, written as the first 20 ms frame of the answering prompt goes out.  Goal:
p99 <= 100 ms.  Baseline, in the same rounds: the same call and path with the IVR engine's answer
to the key replaced by a constant (the same actions, computed once), so the ratio is what the
engine and its program cost on top of the media path's 20 ms framing.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIPP_DIR = os.path.join(ROOT, "tests", "data", "sipp")
sys.path.insert(0, ROOT)


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# every SIPp of both parts gets sockets as large as the PBX's (4 MB each way): with SIPp's default
# (64 KB) a burst of our replies overflowed a peer's socket now and then, and each lost packet held
# its round 10 s (the caller's -recv_timeout) for a call that had worked
SIPP_BUFFERS = ["-buff_size", str(4 * 1024 * 1024)]


def sipp(args: list[str], cwd: str, timeout: float = 600) -> subprocess.Popen:
    return subprocess.Popen(["sipp", "-i", "127.0.0.1", "-nostdin", *SIPP_BUFFERS, "-timeout", f"{int(timeout)}s",
                             *args],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bound(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def wait_bound(port: int, proc) -> None:
    deadline = time.monotonic() + 20
    while not bound(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"SIPp did not listen on {port}")
        time.sleep(0.01)


def run_calls(caller_args: list[str], target: str, seat_port: int, calls: int, rate: int, limit: int,
              work: str) -> float:
    # the answering seat takes more than ``calls``: SIPp counts a stray message (a late response, a
    # retransmission) as a call of its own, and with "-m calls" it stopped answering the last few
    # real ones, which then timed out and held the round 10 s; it is stopped once the caller is done
    seat = sipp(["-sn", "uas", "-p", str(seat_port), "-m", str(calls * 2)], work)
    wait_bound(seat_port, seat)
    t0 = time.monotonic()
    # -recv_timeout: a call whose answer or BYE's 200 was lost under load fails after 10 s
    # instead of holding the run forever (SIPp's uac/uas do not retransmit everything)
    errors = os.path.join(work, f"caller-errors-{time.monotonic_ns()}.log")
    rc = subprocess.call(["sipp", "-i", "127.0.0.1", "-nostdin", *SIPP_BUFFERS, *caller_args, "-m", str(calls), "-r", str(rate),
                          "-l", str(limit), "-d", "0", "-recv_timeout", "10000", "-trace_err", "-error_file", errors,
                          target], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    elapsed = time.monotonic() - t0
    seat.terminate()
    try:
        seat.wait(30)
    except subprocess.TimeoutExpired:
        seat.kill()
    if rc == 1:
        print(f"warning: some of the {calls} calls failed; the rate counts them (SIPp's errors: {errors})",
              file=sys.stderr)
    elif rc != 0:
        raise SystemExit(f"SIPp caller exited {rc}")
    return calls / elapsed


def media_scenario(work: str, talk_s: float) -> str:
    """caller_media.xml without its digits: the A-law sample played for ``talk_s`` seconds."""
    text = open(os.path.join(SIPP_DIR, "caller_media.xml")).read()
    head, rest = text.split("  <nop><action><exec play_pcap_audio", 1)
    tail = rest.split("  <pause/>", 1)[1]
    plays = max(1, round(talk_s / 8))
    body = ('  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>\n'
            '  <pause milliseconds="8000"/>\n') * plays
    path = os.path.join(work, "caller_rtp.xml")
    with open(path, "w") as f:
        f.write(head + body + tail)
    return path


def run_media_calls(scenario: str, target: str, seat_port: int, calls: int, rate: int, talk_s: float,
                    work: str, watch: list[int], caller_port: int | None = None) -> dict:
    """``calls`` concurrent calls with RTP both ways; CPU (cores) of the ``watch`` pids (0 = the
    two SIPp processes) over the window in which every call is up."""
    seat = sipp(["-sn", "uas", "-p", str(seat_port), "-m", str(calls), "-rtp_echo", "-mp", str(free_port() & ~1)],
                work)
    wait_bound(seat_port, seat)
    caller = subprocess.Popen(["sipp", "-i", "127.0.0.1", "-nostdin", *SIPP_BUFFERS, "-sf", scenario, "-s", "8001",
                               "-p", str(caller_port or free_port()), "-mp", str(free_port() & ~1), "-m", str(calls),
                               "-l", str(calls), "-r", str(rate), "-timeout", "600s",
                               "-trace_err", "-error_file", os.path.join(work, "media-errors.log"), target],
                              cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids = [caller.pid, seat.pid] if watch == [0] else watch
    ramp = calls / rate + 1.0
    window = max(2.0, plays_s(talk_s) - ramp - 1.0)
    time.sleep(ramp)                                  # the measurement window starts when all are up
    c0, t0 = sum(proc_cpu(p) for p in pids), time.monotonic()
    time.sleep(window)
    cores = (sum(proc_cpu(p) for p in pids) - c0) / (time.monotonic() - t0)
    rc = caller.wait(600)
    try:
        seat.wait(30)
    except subprocess.TimeoutExpired:
        seat.kill()
    if rc != 0:
        errors = open(os.path.join(work, "media-errors.log"), errors="replace").read()[-1500:]
        raise SystemExit(f"SIPp media caller exited {rc}: some calls failed\n{errors}")
    return {"cores": cores}


def plays_s(talk_s: float) -> float:
    return 8.0 * max(1, round(talk_s / 8))


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PbxProcess:
    def __init__(self, work: str) -> None:
        import yaml
        self.trunk_port, self.sip_port = free_port(), free_port()
        self.db = db = os.path.join(work, "hub.db")
        subprocess.check_call([sys.executable, os.path.join(ROOT, "cli.py"), "hub", "init", "--db", db],
                              stdout=subprocess.DEVNULL)
        doc = {"sip": {"listen": f"127.0.0.1:{self.sip_port}", "media_ports": "34000-35999"},
               "trunks": [{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": self.trunk_port}],
               "seats": [{"extension": "8001", "password": "bench-8001"}],
               "dialplan": [{"number": "8001", "to": "seat 8001"}]}
        path = os.path.join(work, "pbx.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "pbx", "run", path, "--db", db],
                                     stderr=subprocess.PIPE, text=True, cwd=work)
        line = self.proc.stderr.readline()
        if "pbx running" not in line:
            raise SystemExit(f"the PBX did not start: {line}")
        import threading                          # its call lines, read and dropped: a pipe must be drained
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        self.seat_port = free_port()
        rc = subprocess.call(["sipp", "-sf", os.path.join(SIPP_DIR, "register.xml"), "-i", "127.0.0.1", "-nostdin",
                              "-p", str(self.seat_port), "-s", "8001", "-au", "8001", "-ap", "bench-8001", "-m", "1",
                              f"127.0.0.1:{self.sip_port}"], cwd=work, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, timeout=60)
        if rc != 0:
            raise SystemExit("the bench seat could not register")

    def wait_cdrs(self, count: int, timeout: float = 60.0) -> float:
        """Wait until the store holds ``count`` CDRs; when that was seen (time.monotonic)."""
        import sqlite3
        deadline = time.monotonic() + timeout
        while True:
            with sqlite3.connect(self.db, timeout=10) as con:
                have = con.execute("SELECT count(*) FROM call_record").fetchone()[0]
            if have >= count:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise SystemExit(f"the PBX wrote {have} of {count} CDRs within {timeout:.0f} s")
            time.sleep(0.01)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def dtmf_section(args) -> None:
    """Key -> next prompt on an IVR call over the simulated E1 span (see the module's docstring)."""
    import struct

    from drivers.e1_card import alaw
    from drivers.e1_card.dtmf import dtmf_samples
    from hub.callflow.apps import install
    from hub.ivr.flow import load_flow
    from hub.schema import connect
    from hub.telephony.config import check_pbx
    from hub.telephony.service import Pbx
    work = tempfile.mkdtemp(prefix="bench-dtmf-")
    connect(os.path.join(work, "hub.db"), create=True)
    os.makedirs(os.path.join(work, "prompts"))
    with open(os.path.join(work, "flow.yaml"), "w") as f:
        f.write("flow: b\nstart: menu\nprompts_dir: prompts\nprompts: {m: m, a: a}\nnodes:\n"
                "  menu: {type: menu, play: m, keys: {'1': ann}, timeout_s: 30, retries: 3, exhausted: bye}\n"
                "  ann: {type: announce, play: a, next: menu}\n  bye: {type: hangup}\n")
    for name, n in (("m", 1600), ("a", 1600)):
        data = alaw.encode([int(3000 * ((i * 7919) % 17 - 8) / 8) for i in range(n)])
        fmt = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
        with open(os.path.join(work, "prompts", f"{name}.wav"), "wb") as f:
            f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt " +
                    struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    flow = load_flow(os.path.join(work, "flow.yaml"))
    cfg = check_pbx({"sip": {"listen": f"127.0.0.1:{free_port()}", "media_ports": "41000-41099"},
                     "trunks": [{"name": "ct", "kind": "e1", "span": 1, "protocol": "r2-cn", "max_dnis": 5}],
                     "dialplan": [{"number": "95311", "to": "ivr b"}]}, "bench")
    cfg.recording_dir = os.path.join(work, "rec")
    pbx = Pbx(cfg, worker="bench").start()
    apps = install(pbx, {"b": flow})
    span = pbx.e1.spans["ct"]
    keys = 10 if args.quick else 40
    tone = alaw.encode(dtmf_samples("1", 800)) + bytes([alaw.SILENCE]) * 800

    def one_call(constant: bool) -> dict:
        out = pbx.call(lambda: span.carrier.dial("95311", "139"))
        deadline = time.monotonic() + 20
        while pbx.call(lambda: out.state) != "answered":
            if time.monotonic() > deadline:
                raise SystemExit("the IVR did not answer the carrier's call")
            time.sleep(0.02)
        call = pbx.call(lambda: next(c for c in pbx.switch.calls.values()))
        prog = apps.programs[call.id]
        if constant:
            answer = prog.engine.digit
            fixed = []

            def digit(key):
                if not fixed:
                    fixed.extend(answer(key))
                    return list(fixed)
                return list(fixed)
            prog.engine.digit = digit
        lat = []
        for _ in range(keys):
            n = len(call.events)
            pbx.call(lambda: out.play(tone))
            deadline = time.monotonic() + 10
            while True:
                evs = call.events[n:]
                d = next((e.t_ms for e in evs if e.kind == "dtmf"), None)
                pr = next((e.t_ms for e in evs if e.kind == "prompt" and d is not None and e.t_ms >= d), None)
                if pr is not None:
                    lat.append(pr - d)
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("no prompt after a key")
                time.sleep(0.01)
            time.sleep(0.25)            # the announcement and the menu prompt play out (0.2 s each)
        pbx.call(lambda: span.carrier.channels[out.channel].hangup())
        lat.sort()
        return {"p50_ms": lat[len(lat) // 2], "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}

    b = harness.Bench("telephony", args, params={"section": "dtmf", "keys_per_round": keys})
    b.part("constant", lambda r: one_call(True))
    b.part("engine", lambda r: one_call(False))
    b.compare("dtmf_p99", "key -> start of the next prompt, p99 (E1 in-band, IVR engine)", "engine.p99_ms",
              "constant.p99_ms", unit="ms", figure_goal=("<=", 100), headline=True, better="lower")
    b.compare("dtmf_p50", "key -> start of the next prompt, p50", "engine.p50_ms", "constant.p50_ms", unit="ms",
              better="lower")
    b.noise_from("constant.p99_ms")
    try:
        b.run()
    finally:
        pbx.stop()


def concurrent_calls(args) -> int:
    if args.concurrent is not None:
        return max(0, args.concurrent)
    return 30 if args.quick else 180


def main() -> None:
    ap = harness.parser(__doc__)
    ap.add_argument("--calls", type=int, default=None, help="calls per part and round (default 2000; 100 quick)")
    ap.add_argument("--rate", type=int, default=500, help="new calls per second offered (default 500)")
    ap.add_argument("--limit", type=int, default=50, help="calls at once at most (default 50)")
    ap.add_argument("--section", choices=("setups", "dtmf"), default="setups",
                    help="setups: call setups/s through the B2BUA (default); dtmf: key -> next IVR prompt")
    ap.add_argument("--concurrent", type=int, default=None,
                    help="concurrent calls with RTP both ways (default 180; 30 quick; 0 leaves that part out)")
    ap.add_argument("--talk", type=float, default=None,
                    help="seconds each of those calls talks, in 8-s plays of the sample (default 16; 8 quick)")
    args = harness.parse(ap)
    if args.section == "dtmf":
        return dtmf_section(args)
    if shutil.which("sipp") is None:
        raise SystemExit("bench/telephony.py needs SIPp: apt-get install sip-tester")
    calls = args.calls or (100 if args.quick else 2000)
    work = tempfile.mkdtemp(prefix="bench-telephony-")
    pbx = PbxProcess(work)
    b = harness.Bench("telephony", args, params={"calls": calls, "rate": args.rate, "limit": args.limit,
                                                 "concurrent": concurrent_calls(args)})

    def direct(r):
        uas_port = free_port()
        return {"cps": run_calls(["-sn", "uac", "-s", "8001", "-p", str(free_port())], f"127.0.0.1:{uas_port}",
                                 uas_port, calls, args.rate, args.limit, work)}

    done = {"cdrs": 0}

    def b2bua(r):
        c0, t0 = proc_cpu(pbx.proc.pid), time.monotonic()
        cps = run_calls(["-sn", "uac", "-s", "8001", "-p", str(pbx.trunk_port)], f"127.0.0.1:{pbx.sip_port}",
                        pbx.seat_port, calls, args.rate, args.limit, work)
        t_calls = time.monotonic()
        done["cdrs"] += calls                     # every call's CDR is in the store before the next part
        lag = pbx.wait_cdrs(done["cdrs"]) - t_calls
        return {"cps": cps, "cores": (proc_cpu(pbx.proc.pid) - c0) / (time.monotonic() - t0), "cdr_lag_s": lag}

    concurrent = concurrent_calls(args)
    talk = args.talk or (8 if args.quick else 16)
    scenario = media_scenario(work, talk)
    media_rate = max(10, concurrent // 3)

    def media_direct(r):
        uas_port = free_port()
        return run_media_calls(scenario, f"127.0.0.1:{uas_port}", uas_port, concurrent, media_rate, talk,
                               work, [0])

    def media_b2bua(r):
        return run_media_calls(scenario, f"127.0.0.1:{pbx.sip_port}", pbx.seat_port, concurrent, media_rate,
                               talk, work, [pbx.proc.pid], caller_port=pbx.trunk_port)

    b.part("direct", direct)
    b.part("b2bua", b2bua)
    if concurrent:
        b.part("media_direct", media_direct)
        b.part("media_b2bua", media_b2bua)
    b.compare("setups", "call setups/s through the B2BUA over SIPp->SIPp", "b2bua.cps", "direct.cps",
              unit="calls/s", goal=(">=", 0.3), headline=True, better="higher")
    b.figure("pbx_cores", "PBX process CPU while calling", "b2bua.cores", unit="cores")
    b.figure("cdr_lag", "last CDR in the store after the last call ended", "b2bua.cdr_lag_s", unit="s",
             better="lower")
    if concurrent:
        b.figure("media_cores", f"PBX process CPU, {concurrent} concurrent calls with RTP both ways",
                 "media_b2bua.cores", unit="cores", goal=("<=", 1.0), better="lower")
        b.compare("media_vs_sipp", f"PBX CPU over SIPp<->SIPp's CPU for the same {concurrent} calls",
                  "media_b2bua.cores", "media_direct.cores", unit="cores", better="lower")
        b.noise_from("direct.cps", "media_direct.cores")
    else:
        b.noise_from("direct.cps")
    try:
        b.run()
    finally:
        pbx.stop()


if __name__ == "__main__":
    main()
