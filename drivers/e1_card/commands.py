"""``scanhub e1 …``: E1 trunk status, DAHDI configuration and live signalling traces."""
from __future__ import annotations

import glob
import json
import os

import click

from .errors import E1Error

ALARM_EXIT = 3        # `e1 status`: a span shown has an alarm


@click.group("e1")
def e1():
    """E1 trunks: span status, DAHDI configuration, CAS/MF and Q.931 traces.

    \b
    Examples:
      scanhub e1 status                          spans of the DAHDI card (/proc/dahdi)
      scanhub e1 status --backend sim            a simulated span pair
      scanhub e1 config --gen dahdi --trunks trunks.yaml
      scanhub e1 trace 1/5 --backend sim         a simulated call on span 1 channel 5
    """


def _print_status(st, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(st.to_dict()))
        return
    c = st.counters
    click.echo(f"span {st.span} {st.name}: {st.framing} {st.colour}"
               + (f" ({', '.join(st.alarms)})" if st.alarms else ""))
    keys = ("bpv", "crc4_errors", "ebit_errors", "fas_errors", "slips", "lof_events", "crc4_lof_events")
    click.echo("  " + "  ".join(f"{k}={c.get(k, 0)}" for k in keys))
    states: dict[str, list[int]] = {}
    for ch, s in sorted(st.channels.items()):
        states.setdefault(s, []).append(ch)
    for s, chans in sorted(states.items()):
        click.echo(f"  {s:<14} {','.join(map(str, chans))}")


@e1.command()
@click.option("--backend", type=click.Choice(["dahdi", "sim"]), default="dahdi", show_default=True,
              help="Where the spans are: a DAHDI card, or a simulated span pair.")
@click.option("--proc-dir", default="/proc/dahdi", show_default=True, help="DAHDI's status directory.")
@click.option("--span", "span_no", type=int, help="Only this span.")
@click.option("--fault", type=click.Choice(["cut", "ais", "corrupt", "slip"]),
              help="With --backend sim: inject this fault into the line toward span 2 first.")
@click.option("--scan", "scan_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Show dahdi_scan's view instead: a saved output file, or - to run dahdi_scan now.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per span.")
def status(backend, proc_dir, span_no, fault, scan_file, as_json):
    """Spans with their alarms, error counters and channel states.

    Exit status: 0 when no span shown has an alarm, 3 when one does (a monitoring script can
    alert on it; the status is printed either way), 1 when the status cannot be read.

    \b
    Examples:
      scanhub e1 status                               every span of the DAHDI card
      scanhub e1 status --span 1 --json
      scanhub e1 status --backend sim --fault ais     a simulated pair with a fault: exit status 3
      scanhub e1 status || alert "E1 alarm"
    """
    try:
        if scan_file:
            if _scan_status(scan_file, span_no, as_json):
                raise SystemExit(ALARM_EXIT)
            return
        if backend == "sim":
            from drivers.e1_card.virtual import VirtualSpanPair
            pair = VirtualSpanPair()
            pair.run(100)
            if fault:
                pair.line_ab.inject(fault, 50 if fault in ("corrupt", "slip") else 1)
                pair.run(100)
            spans = [pair.a.status(), pair.b.status()]
        else:
            from .dahdi import status_from_proc
            files = sorted(glob.glob(os.path.join(proc_dir, "[0-9]*")), key=lambda p: int(os.path.basename(p)))
            if not files:
                raise click.ClickException(f"no spans in {proc_dir}: is DAHDI loaded and configured "
                                           "(dahdi_cfg)? Try --backend sim for a simulated pair.")
            spans = []
            for path in files:
                with open(path, encoding="utf-8") as fh:
                    spans.append(status_from_proc(fh.read()))
        if span_no is not None:
            spans = [s for s in spans if s.span == span_no]
            if not spans:
                raise click.ClickException(f"no span {span_no}")
        for st in spans:
            _print_status(st, as_json)
    except BrokenPipeError:
        raise                          # the reader went away (`| head`): click ends quietly
    except (E1Error, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if any(st.alarms for st in spans):
        raise SystemExit(ALARM_EXIT)


def _scan_status(scan_file, span_no, as_json) -> bool:
    """Print dahdi_scan's view; True when a span shown has an alarm."""
    import shutil
    import subprocess
    from .dahdi import parse_dahdi_scan
    if scan_file == "-":
        if shutil.which("dahdi_scan") is None:
            raise click.ClickException("dahdi_scan is not installed (package dahdi)")
        run = subprocess.run(["dahdi_scan"], capture_output=True, text=True, timeout=30)
        if run.returncode:
            raise click.ClickException(f"dahdi_scan failed: {run.stderr.strip() or run.returncode}")
        text = run.stdout
    else:
        with open(scan_file, encoding="utf-8") as fh:
            text = fh.read()
    alarm = False
    for sp in parse_dahdi_scan(text):
        if span_no is not None and sp["span"] != span_no:
            continue
        alarm = alarm or bool(sp.get("alarms"))
        if as_json:
            click.echo(json.dumps(sp))
        else:
            alarms = "/".join(sp.get("alarms") or []) or ("OK" if sp.get("configured", True) else "UNCONFIGURED")
            click.echo(f"span {sp['span']} {sp.get('name', '?')}: {sp.get('type', '?')} "
                       f"{sp.get('framing', '')} {sp.get('coding', '')} {alarms} "
                       f"channels {sp.get('basechan', '?')}+{sp.get('totchans', '?')}".replace("  ", " "))
    return alarm


@e1.command()
@click.option("--gen", type=click.Choice(["dahdi"]), required=True, help="What to generate.")
@click.option("--trunks", "trunks_path", required=True, type=click.Path(dir_okay=False),
              help="Trunk file (YAML, e1.spans list; see docs/e1.md).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write system.conf and chan_dahdi.conf here instead of printing them.")
@click.option("--zone", default="cn", show_default=True, help="DAHDI tone zone (loadzone/defaultzone).")
@click.option("--json", "as_json", is_flag=True,
              help='Print JSON: {"files": [paths]} with --out, else {"system.conf": text, "chan_dahdi.conf": text}.')
def config(gen, trunks_path, out_dir, zone, as_json):
    """Generate /etc/dahdi/system.conf and chan_dahdi-style channel settings from a trunk file."""
    from .dahdi import chan_dahdi_conf, system_conf
    from .trunks import load_trunks
    try:
        trunks = load_trunks(trunks_path)
    except E1Error as exc:
        raise click.ClickException(str(exc)) from None
    sysconf, chanconf = system_conf(trunks, loadzone=zone), chan_dahdi_conf(trunks)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        for name, text in (("system.conf", sysconf), ("chan_dahdi.conf", chanconf)):
            with open(os.path.join(out_dir, name), "w", encoding="utf-8") as fh:
                fh.write(text)
        if as_json:
            click.echo(json.dumps({"files": [os.path.join(out_dir, "system.conf"),
                                             os.path.join(out_dir, "chan_dahdi.conf")]}))
        else:
            click.echo(f"wrote {out_dir}/system.conf and {out_dir}/chan_dahdi.conf")
    elif as_json:
        click.echo(json.dumps({"system.conf": sysconf, "chan_dahdi.conf": chanconf}))
    else:
        click.echo(sysconf)
        click.echo(chanconf)


@e1.command()
@click.argument("target", metavar="SPAN/CHAN")
@click.option("--backend", type=click.Choice(["dahdi", "sim"]), default="dahdi", show_default=True,
              help="Trace a DAHDI card's channel, or a call on a simulated span pair.")
@click.option("--protocol", type=click.Choice(["r2-cn", "pri"]), default="r2-cn", show_default=True,
              help="With --backend sim: which signalling the simulated call uses.")
@click.option("--seconds", default=10.0, show_default=True, help="How long to trace (dahdi: wall clock).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per trace record.")
def trace(target, backend, protocol, seconds, as_json):
    """Live trace of one channel: CAS changes and MF signals (R2) or Q.931 messages (PRI).

    With --backend sim a simulated carrier places one call on that channel and clears it.
    Piped into `head`, it stops quietly when the reader has had enough.

    \b
    Examples:
      scanhub e1 trace 1/5                                  channel 5 of span 1 on the DAHDI card
      scanhub e1 trace 2/5 --backend sim --seconds 5        a simulated China No.1 call
      scanhub e1 trace 1/7 --backend sim --protocol pri --json | head
    """
    try:
        span_s, chan_s = target.split("/")
        span_no, chan = int(span_s), int(chan_s)
    except ValueError:
        raise click.ClickException(f"target must be SPAN/CHAN like 1/5, not {target!r}") from None

    def show(rec):
        if as_json:
            click.echo(json.dumps(rec, default=str))
        else:
            click.echo(f"{rec['t']:>8} ms  {rec['dir']:>2} {rec['kind']:<5} {rec['value']} "
                       f"{rec.get('meaning', '')}".rstrip())

    try:
        if backend == "sim":
            _trace_sim(span_no, chan, protocol, seconds, show)
        else:
            _trace_dahdi(span_no, chan, seconds, show)
    except BrokenPipeError:
        raise                          # the reader went away (`| head`): click ends quietly
    except (E1Error, OSError) as exc:
        raise click.ClickException(str(exc)) from None


def _trace_sim(span_no, chan, protocol, seconds, show):
    from .virtual import virtual_pair
    from .frame import VOICE_TIMESLOTS
    if chan not in VOICE_TIMESLOTS:
        raise click.ClickException(f"channel {chan} is not a voice timeslot (1-15, 17-31)")
    if span_no not in (1, 2):
        raise click.ClickException("the simulated pair has span 1 (carrier) and span 2 (hub)")
    pair, carrier, hub = virtual_pair(protocol)
    watched = carrier if span_no == 1 else hub

    def filt(rec):
        if rec.get("ch") in (chan, None) or rec.get("kind") == "q921":
            show(rec)
    watched.trace_listeners.append(filt)
    calls = []
    hub.listeners.append(lambda e, c: calls.append((e, c)))
    if protocol == "pri":
        call = carrier.dial("95546000", "13800138000", channel=chan)
    else:
        call = carrier.dial("95546000", "13800138000", channel=chan)
    end = pair.now_ms + int(seconds * 1000)
    answered_at = None
    while pair.now_ms < end:
        for e, c in list(calls):
            if e == "offered":
                calls.remove((e, c))
                if protocol == "pri":
                    hub.answer(c)
                else:
                    hub.channels[c.channel].answer()
        if call.state == "answered" and answered_at is None:
            answered_at = pair.now_ms
        if answered_at is not None and pair.now_ms - answered_at >= 500 and call.state == "answered":
            if protocol == "pri":
                carrier.hangup(call)
            else:
                carrier.channels[chan].hangup()
        if call.state in ("cleared", "failed") and pair.now_ms - (call.t_end or 0) > 300:
            break
        pair.step()


def _trace_dahdi(span_no, chan, seconds, show):
    import time
    from .dahdi import DahdiSpan
    from .span import SpanConfig
    span = DahdiSpan(SpanConfig(span=span_no, channels=(chan,)))
    try:
        span.open_channels()
        last = None
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            bits = span.rx_abcd(chan)
            if bits != last:
                show({"t": span.now_ms, "dir": "rx", "kind": "cas", "value": format(bits, "04b"), "meaning": ""})
                last = bits
            span.read_audio(chan)
            time.sleep(0.01)
    finally:
        span.close()
