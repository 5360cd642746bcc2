"""``scanhub sim e1``: a simulated carrier placing calls into a simulated E1 span pair."""
from __future__ import annotations

import json

import click

from drivers.e1_card.errors import E1Error


@click.command("e1")
@click.option("--calls", "-n", default=10, show_default=True, help="How many calls the carrier places.")
@click.option("--protocol", type=click.Choice(["r2-cn", "pri"]), default="r2-cn", show_default=True,
              help="China No.1 (MFC-R2, CN variant) on CAS, or ISDN PRI on CCS.")
@click.option("--concurrent", default=30, show_default=True, help="Calls up at the same time (1-30).")
@click.option("--hold", "hold_ms", default=2000, show_default=True, help="Talk time of each call, ms.")
@click.option("--dnis-len", default=8, show_default=True, help="Called-number length.")
@click.option("--seed", default=1, show_default=True, help="Random seed for the numbers.")
@click.option("--realtime", is_flag=True, help="Pace the simulation to the wall clock (default: as fast as possible).")
@click.option("--trace", is_flag=True, help="Print every CAS change, MF signal or Q.931 message.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def e1(calls, protocol, concurrent, hold_ms, dnis_len, seed, realtime, trace, as_json):
    """Run a simulated carrier against our E1 side and report setup times and failures.

    Both ends run the real framing (HDB3-ready frames, CRC-4, CAS or HDLC D channel) and the
    real signalling stacks; the carrier dials random called numbers with caller numbers, our
    side answers, each call is held and cleared.  Times are simulated milliseconds.

    \b
    Examples:
      scanhub sim e1 --calls 100                        China No.1 calls, as fast as possible
      scanhub sim e1 --protocol pri --calls 5 --trace   every Q.931 message
      scanhub sim e1 --calls 30 --realtime --json
    """
    from sim.e1_carrier import run_calls

    def show(rec):
        click.echo(f"{rec['t']:>8} span{rec['span']}/{rec.get('ch') or '-':<3} {rec['dir']:>2} "
                   f"{rec['kind']:<5} {rec['value']} {rec.get('meaning', '')}".rstrip())

    try:
        res = run_calls(protocol, calls, concurrent=concurrent, hold_ms=hold_ms, seed=seed,
                        realtime=realtime, dnis_len=dnis_len, on_trace=show if trace else None)
    except E1Error as exc:
        raise click.ClickException(str(exc)) from None
    s = res.summary()
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    click.echo(f"protocol {s['protocol']}: placed {s['placed']}, answered {s['answered']}, failed {s['failed']}")
    if s["setup_ms"]:
        st = s["setup_ms"]
        click.echo(f"setup time (seize/SETUP to accepted): min {st['min']} ms, median {st['median']} ms, "
                   f"max {st['max']} ms")
    for reason, n in sorted(s["failures"].items()):
        click.echo(f"  failed: {reason} x{n}")
    click.echo(f"simulated {s['simulated_ms']} ms in {s['cpu_s']} s of CPU")
