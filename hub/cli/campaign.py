"""``scanhub campaign``: outbound campaigns: check a campaign file, import its list, simulate it,
run it live through the PBX, status, reports with charts, the do-not-call lists (docs/outbound.md)."""
from __future__ import annotations

import click

from hub.cli.common import db_option, done, emit, format_option, json_option, with_store


@click.group("campaign")
def campaign():
    """Outbound campaigns: lists, dial modes, compliance, predictive pacing, surveys.

    \b
    Examples:
      scanhub campaign check survey.yaml                 every problem of the file, with its place
      scanhub campaign import survey.yaml                load its list (deduplicated by number)
      scanhub campaign import survey.yaml --csv more.csv
      scanhub campaign simulate survey.yaml --minutes 120 --answer-rate 0.3
      scanhub campaign run survey.yaml --pbx pbx.yaml --minutes 60   dial it live, agents at SIP seats
      scanhub campaign status survey-after-delivery
      scanhub campaign report survey-after-delivery --format html > report.html
      scanhub campaign dnc --add 13800138000 --reason "asked on the phone"
      scanhub campaign dnc                               every list, SMS opt-outs included
    """


@campaign.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def campaign_check(file):
    """Check a campaign FILE: mode, window, pacing, dispositions, survey, list, order rules."""
    from hub.outbound.campaign import load_campaign
    c = load_campaign(file)
    click.echo(f"{file}: campaign {c.name}, {c.mode}, {len(c.agents)} agent(s), "
               f"{len(c.dispositions)} disposition(s), {len(c.questions)} survey question(s): ok")


@campaign.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="A CSV list instead of the file's list.")
@json_option
@db_option
@with_store
def campaign_import(file, csv_path, fmt):
    """Load the list of the campaign FILE (or --csv) into the store, deduplicated by number."""
    import os

    from hub.outbound import lists, store
    from hub.outbound.campaign import load_campaign
    c = load_campaign(file)
    spec = {"source": "csv", "path": os.path.abspath(csv_path)} if csv_path else c.list_spec
    if not spec:
        raise click.UsageError(f"{file} has no list: give --csv")
    problems: list[str] = []
    got = lists.load(spec, os.path.dirname(os.path.abspath(file)), problems)
    n = store.import_contacts(c.name, got)
    for p in problems:
        click.echo(f"left out: {p}", err=True)
    done({"campaign": c.name, "read": len(got), "added": n, "left_out": problems},
         f"campaign {c.name}: {n} number(s) added ({len(got) - n} already there, {len(problems)} row(s) left out)", fmt)


@campaign.command("simulate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--minutes", type=click.FloatRange(1, 60 * 24 * 7), default=60, show_default=True,
              help="Simulated minutes to play.")
@click.option("--answer-rate", type=click.FloatRange(0.01, 1), default=0.35, show_default=True,
              help="Share of calls a person answers.")
@click.option("--talk-s", type=click.FloatRange(1, 3600), default=90, show_default=True, help="Mean talk time.")
@click.option("--seed", type=int, default=0, show_default=True, help="The simulated people (same seed, same traffic).")
@click.option("--store/--no-store", "keep", default=False, help="Store the records (the stored list is dialled).")
@json_option
@db_option
@with_store
def campaign_simulate(file, minutes, answer_rate, talk_s, seed, keep, fmt):
    """Play the campaign FILE over its imported list on a simulated clock: occupancy, abandon rate."""
    from hub.outbound import simulate, store
    from hub.outbound.campaign import load_campaign
    c = load_campaign(file)
    contacts = store.contacts_of(c.name)
    if not contacts:
        raise click.UsageError(f"campaign {c.name} has no numbers: run `scanhub campaign import {file}` first")
    since = simulate.START_MS - int(c.pacing.window_h * 3_600_000)
    res = simulate.run(c, contacts, simulate.Traffic(answer_rate=answer_rate, talk_s=talk_s, seed=seed), minutes,
                       dnc=store.dnc_lookup(c.name), history=store.pacer_history(c.name, since))
    if keep:
        store.sink(c)(res.records)
        store.save_contacts(c.name, res.dialer.contacts.values())
    f = res.figures
    done(f, f"{c.name} ({c.mode}, {minutes:g} simulated minutes): {f['attempts']} calls, occupancy "
            f"{f['occupancy']:.1%}, abandon rate {f['abandon_rate']:.2%} ({f['abandoned']} of {f['answered']} "
            f"answered), {f['refusals']} refusal(s)", fmt)


def _progress(f: dict) -> str:
    import time
    return (f"{time.strftime('%H:%M:%S')} {f['campaign']} ({f['mode']}): {f['placed']} placed, {f['answered']} answered, "
            f"{f['connected']} connected, {f['abandoned'] + f['dropped']} abandoned ({f['abandon_rate']:.1%} of "
            f"answered; cap {f['abandon_cap']:.1%}), occupancy {f['occupancy']:.1%}, agents "
            f"{f['agents_logged_in']}/{f['agents']} logged in, {f['in_progress']} call(s) in progress")


def _seats(items, c, cfg) -> dict[str, str]:
    from hub.outbound.errors import OutboundError
    seats = {}
    for item in items:
        agent, sep, seat = item.partition("=")
        if not sep or not agent or not seat:
            raise click.UsageError(f"--seat {item!r} is not AGENT=SEAT")
        if agent not in c.agents:
            raise click.UsageError(f"--seat {item!r}: {agent!r} is not an agent of campaign {c.name} "
                                   f"({', '.join(c.agents) or 'none'})")
        seats[agent] = seat
    for agent in c.agents:
        seat = seats.setdefault(agent, agent)
        if seat not in cfg.seats:
            raise OutboundError(f"agent {agent}'s seat {seat} is not a seat of the PBX file "
                                f"(seats: {', '.join(cfg.seats) or 'none'}); give --seat {agent}=EXTENSION")
    return seats


@campaign.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--pbx", "pbx_file", required=True, type=click.Path(dir_okay=False),
              help="The PBX file (SIP and E1 trunks, the agents' seats, the dial plan; docs/telephony.md).")
@click.option("--minutes", type=click.FloatRange(0.05, 60 * 24 * 7),
              help="Dial for this long, then let the calls in progress end (default: until every number is done).")
@click.option("--seat", "seat_items", multiple=True, metavar="AGENT=SEAT",
              help="The seat AGENT answers at (repeatable; default: the seat whose extension is the agent's id).")
@click.option("--every", type=click.FloatRange(0.5, 3600), default=10, show_default=True,
              help="Seconds between progress lines.")
@click.option("--grace", type=click.FloatRange(0, 3600), default=60, show_default=True,
              help="Seconds the calls in progress may go on once dialling stops; then they are hung up.")
@db_option
def campaign_run(file, pbx_file, minutes, seat_items, every, grace, db):
    """Run the campaign FILE live: dial its imported list through the PBX of --pbx and connect
    answered calls to the agents, who are SIP seats of that PBX (logged in while registered).

    \b
    Example (docs/outbound.md, "A live run", tries it with SIPp):
      scanhub campaign import survey.yaml --db hub.db
      scanhub campaign run survey.yaml --pbx pbx.yaml --db hub.db --minutes 60 \\
          --seat a1=8001 --seat a2=8002

    \b
    It prints a line every --every seconds:
      10:00:10 survey (predictive): 40 placed, 18 answered, 15 connected, 1 abandoned
        (5.6% of answered; cap 3.0%), occupancy 62.1%, agents 2/2 logged in, 3 call(s) in progress
    Ctrl-C or SIGTERM stops dialling and lets the calls in progress end (up to --grace
    seconds; a second Ctrl-C hangs them up); every call is in the CDRs (scanhub call list) and
    in the campaign's records (scanhub campaign report NAME).
    """
    import logging
    import os
    import signal
    import threading
    import time

    from contract.clock import now_ms
    from hub.cli.common import open_store
    from hub.outbound import store
    from hub.outbound.campaign import load_campaign
    from hub.outbound.driver import Driver, voice_parts
    from hub.telephony.config import load_pbx
    from hub.telephony.errors import PbxConfigError, TelephonyError
    from hub.telephony.service import Pbx
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    c = load_campaign(file)
    from hub.outbound.errors import OutboundError
    if c.mode == "preview":
        raise OutboundError(f"campaign {c.name} is a preview campaign: its agents dial from a console, "
                               "which `campaign run` does not have; run it as progressive")
    try:
        cfg = load_pbx(pbx_file)
    except PbxConfigError as e:
        raise TelephonyError(f"--pbx {pbx_file}: {len(e.problems)} problem(s): " + "; ".join(e.problems)) from None
    seats = _seats(seat_items, c, cfg)
    flows, message = voice_parts(c, os.path.dirname(os.path.abspath(file)))
    open_store(db)
    contacts = store.contacts_of(c.name)
    if not contacts:
        raise OutboundError(f"campaign {c.name} has no numbers: run `scanhub campaign import {file}` first")
    service = Pbx(cfg).start()
    stop, hard = threading.Event(), threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            hard.set()
        stop.set()
    before = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # the abandon rate is over the rolling window, not this run: the window's calls so far count
    history = store.pacer_history(c.name, now_ms() - int(c.pacing.window_h * 3_600_000))
    driver = Driver(service, c, contacts, sink=store.sink(c), dnc=store.dnc_lookup(c.name), seats=seats,
                    flows=flows, abandon_audio=message, history=history)
    try:
        driver.start()
        todo = sum(1 for ct in contacts if not ct.done)
        click.echo(f"campaign {c.name} ({c.mode}) running: {todo} number(s) to call, SIP on "
                   f"{service.address[0]}:{service.address[1]}, agents "
                   + ", ".join(f"{a} at seat {s}" for a, s in seats.items()) + f", store {db}")
        t0 = time.monotonic()
        next_line = t0 + every
        drained = hung = None
        while not driver.done.wait(0.2):
            now = time.monotonic()
            if drained is None and (stop.is_set() or minutes is not None and now - t0 >= minutes * 60):
                driver.drain()
                drained = now
                f = driver.figures()
                click.echo(f"dialling stopped ({'asked to stop' if stop.is_set() else f'{minutes:g} minutes'}): "
                           f"{f['in_progress']} call(s) in progress may go on for {grace:g} s")
            if drained is not None and hung is None and (hard.is_set() or now - drained >= grace):
                hung = now
                click.echo(f"hanging up {driver.hang_up_all()} call(s) in progress")
            if hung is not None and now - hung > 15:
                click.echo("calls still not ended 15 s after they were hung up: stopping anyway", err=True)
                break
            if now >= next_line:
                click.echo(_progress(driver.figures()))
                next_line += every
        f = driver.figures()
        click.echo(_progress(f))
        left = sum(1 for ct in driver.dialer.contacts.values() if not ct.done and ct.attempts < c.max_attempts)
        click.echo(f"campaign {c.name} stopped after {(time.monotonic() - t0) / 60:.1f} min: {f['placed']} call(s) "
                   f"placed, {left} number(s) still to call; outcomes: "
                   + (", ".join(f"{k} {v}" for k, v in sorted(f["outcomes"].items())) or "none"))
    finally:
        driver.stop()
        store.save_contacts(c.name, driver.dialer.contacts.values())
        service.stop()
        for sig, handler in before.items():
            signal.signal(sig, handler)


@campaign.command("status")
@click.argument("name")
@json_option
@db_option
@with_store
def campaign_status(name, fmt):
    """Where campaign NAME is: numbers pending and done, attempts, refusals."""
    from hub.outbound import store
    cts = store.contacts_of(name)
    if not cts:
        raise click.UsageError(f"no campaign {name!r} in the store (import its list first)")
    out = {"campaign": name, "numbers": len(cts), "done": sum(c.done for c in cts),
           "attempts": sum(c.attempts for c in cts), "refusals": sum(r["refusals"] for r in store.refusals(name))}
    done(out, f"campaign {name}: {out['numbers']} numbers, {out['done']} done, {out['attempts']} attempts, "
              f"{out['refusals']} refusals", fmt)


@campaign.command("report")
@click.argument("name")
@click.option("--what", type=click.Choice(["outcomes", "refusals", "survey"]), default="outcomes", show_default=True,
              help="Calls by outcome, refusals by reason, or survey answers per question.")
@format_option
@db_option
@with_store
def campaign_report(name, what, fmt):
    """Outcomes, refusals (by reason) or survey answers of campaign NAME, with a chart in html/pdf."""
    from hub.cli.charts import Chart
    from hub.outbound import store
    rows = {"outcomes": store.outcomes, "refusals": store.refusals, "survey": store.survey}[what](name)
    if what == "survey":
        series: dict[str, list] = {}
        for r in rows:
            series.setdefault(r["question"], []).append((r["answer"], r["calls"]))
        chart = Chart("bar", f"{name}: survey answers", series, xlabel="answer", ylabel="calls", legend="question")
    else:
        key = "outcome" if what == "outcomes" else "reason"
        count = "calls" if what == "outcomes" else "refusals"
        chart = Chart("bar", f"{name}: {what}", {what: [(r[key], r[count]) for r in rows]}, ylabel=count)
    emit(rows, fmt, f"Campaign {name}: {what}", chart=chart, totals=what != "survey")


@campaign.command("dnc")
@click.option("--add", metavar="PHONE", help="Put a number on a list.")
@click.option("--remove", metavar="PHONE", help="Take a number off a list.")
@click.option("--list", "list_", default="internal", show_default=True,
              help="internal (every campaign) or a campaign's name.")
@click.option("--reason", default="", help="With --add: why.")
@format_option
@db_option
@with_store
def campaign_dnc(add, remove, list_, reason, fmt):
    """The do-not-call lists (SMS opt-outs count too); --add / --remove change one."""
    from hub.outbound import store
    if add:
        n = store.add_dnc(add, list_, reason)
        click.echo(f"{n}: on the {list_} do-not-call list")
        return
    if remove:
        n = store.remove_dnc(remove, list_)
        click.echo(f"{remove}: {'taken off' if n else 'was not on'} the {list_} list")
        return
    emit(store.dnc_rows(), fmt, "Do-not-call lists", columns=["phone", "list", "reason", "at_ms"], totals=False)
