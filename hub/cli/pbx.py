"""``scanhub pbx``: check a PBX file (trunks, seats, dial plan) and run the telephony service."""
from __future__ import annotations

import queue
import threading

import click

from hub.cli.common import db_option, done, json_option, open_store

MAX_WAITING_LINES = 10_000


class CallLines:
    """The call lines ``pbx run`` prints, written by a thread of their own: a standard error that
    blocks (a pipe nobody reads, a stalled terminal) never stops the calls.  The thread writes
    what has gathered every ``every_s`` (one wake-up per interval, whatever the call rate);
    beyond ``MAX_WAITING_LINES`` waiting lines, new ones are dropped and their number said later."""

    def __init__(self, echo=lambda text: click.echo(text, err=True), limit: int = MAX_WAITING_LINES,
                 every_s: float = 0.2):
        self.echo, self.q, self.dropped, self.every_s = echo, queue.Queue(maxsize=limit), 0, every_s
        threading.Thread(target=self._run, name="call-lines", daemon=True).start()

    def write(self, line: str) -> None:
        try:
            self.q.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        import time
        while True:
            time.sleep(self.every_s)
            lines = []
            while True:
                try:
                    lines.append(self.q.get_nowait())
                except queue.Empty:
                    break
            dropped, self.dropped = self.dropped, 0
            if dropped:
                lines.append(f"({dropped} call lines not printed: standard error was not being read)")
            if lines:
                self.echo("\n".join(lines))


@click.group("pbx")
def pbx():
    """The telephony service: SIP trunks and seats, E1 spans, the dial plan, CDRs (docs/telephony.md).

    \b
    Examples:
      scanhub pbx check pbx.yaml                 every problem in the file, with its place
      scanhub pbx run pbx.yaml --db hub.db       answer and route calls until Ctrl-C
      scanhub call active                        what is up now (another terminal)
    A sample PBX file: sim/pbx/sample.yaml.
    """


@pbx.command("check")
@click.argument("pbx_file", type=click.Path(dir_okay=False))
@json_option
def check(pbx_file, fmt):
    """Read and check PBX_FILE without starting anything; exit status 1 on any problem."""
    from hub.telephony.config import load_pbx
    cfg = load_pbx(pbx_file)
    kinds = {}
    for t in cfg.trunks.values():
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    result = {"valid": True, "listen": f"{cfg.listen_host}:{cfg.listen_port}", "sip_trunks": kinds.get("sip", 0),
              "e1_trunks": kinds.get("e1", 0), "seats": len(cfg.seats), "dialplan_rules": len(cfg.dialplan),
              "recording_dir": cfg.recording_dir, "record_by_default": cfg.record_default}
    done(result, f"{pbx_file}: valid; SIP on {result['listen']}, {result['sip_trunks']} SIP trunk(s), "
                 f"{result['e1_trunks']} E1 trunk(s), {result['seats']} seat(s), {result['dialplan_rules']} "
                 f"dial plan rule(s)", fmt)


@pbx.command("run")
@click.argument("pbx_file", type=click.Path(dir_okay=False))
@db_option
@click.option("--listen", metavar="HOST:PORT", help="Where SIP listens (default: sip.listen in the file).")
@click.option("--worker", help="This worker's name in the store (default host:pid:port); several workers "
                               "behind a SIP dispatcher share one store.")
@click.option("-v", "--verbose", is_flag=True, help="Log every call's events on stderr.")
@click.option("--flow", "flows", multiple=True, type=click.Path(dir_okay=False),
              help="An IVR flow file (repeatable): the dial plan's 'ivr NAME' runs the flow named NAME.")
@click.option("--queues", type=click.Path(dir_okay=False),
              help="The queues and agents file: the dial plan's 'queue NAME' and IVR transfers to queues.")
@click.option("--queue-log", metavar="FILE", help="Also append the queue log to FILE, in Asterisk's format "
                                                  "(the store always has it).")
@click.option("--login", "logins", multiple=True, metavar="AGENT=SEAT",
              help="Log AGENT in at SEAT when the service starts (repeatable).")
@click.option("--hold-music", type=click.Path(dir_okay=False), help="An 8 kHz A-law WAV played, looped, to "
                                                                   "callers waiting in a queue.")
@click.option("--voicemail-dir", envvar="SCANHUB_VOICEMAIL_DIR", default="voicemail", show_default=True,
              help="Where voicemail left in IVR flows is stored.")
def run(pbx_file, db, listen, worker, verbose, flows, queues, queue_log, logins, hold_music, voicemail_dir):
    """Run the telephony service for PBX_FILE until Ctrl-C or SIGTERM; CDRs go to the hub store.

    \b
    With IVR flows and queues (docs/telephony.md, "IVR and queues on calls"):
      scanhub pbx run pbx.yaml --db hub.db --flow hub/ivr/flows/hotline.yaml \\
          --queues queues.yaml --login 1001=8001 --queue-log queue_log
    """
    import logging

    from hub.telephony.config import load_pbx
    from hub.telephony.errors import TelephonyError
    from hub.telephony.service import Pbx
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_pbx(pbx_file)
    if listen:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise TelephonyError(f"--listen {listen!r} is not HOST:PORT")
        cfg.listen_host, cfg.listen_port = host, int(port)
    open_store(db)
    from hub.callflow.apps import check_dialplan, install, load
    flow_map, centre = load(flows, queues)
    check_dialplan(cfg, flow_map, centre)
    if hold_music:
        from hub.ivr.audio import prompt_samples
        prompt_samples(hold_music)                 # a clear error now, not once calls come
    agents = {}
    for item in logins:
        agent, sep, seat = item.partition("=")
        if not sep or not agent or not seat:
            raise TelephonyError(f"--login {item!r} is not AGENT=SEAT")
        if centre is None or agent not in centre.agents:
            raise TelephonyError(f"--login {item!r}: agent {agent!r} is not in the --queues file")
        agents[agent] = seat
    service = Pbx(cfg, worker=worker)
    lines = CallLines()

    def announce(call, event):              # on the loop: never blocks (CallLines)
        if event.kind == "call-end":
            lines.write(f"call {call.id} {call.caller} -> {call.callee}: {call.disposition}, {call.billable_s()} s")
        elif verbose:
            lines.write(f"call {call.id} {event.kind} {event.leg or ''} {event.data}")
    def started():
        if flow_map or centre is not None:
            install(service, flow_map, centre, queue_log=queue_log, voicemail_dir=voicemail_dir, logins=agents,
                    hold_music=hold_music)
    service.on_started = lambda: (started(), service.switch.listeners.append(announce),
                                  click.echo(f"pbx running: SIP on {service.address[0]}:{service.address[1]}, "
                                             f"store {db}", err=True))
    service.run()
