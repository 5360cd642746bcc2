"""``scanhub campaign``: outbound campaigns: check a campaign file, import its list, simulate it,
status, reports with charts, the do-not-call lists (docs/outbound.md)."""
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
    res = simulate.run(c, contacts, simulate.Traffic(answer_rate=answer_rate, talk_s=talk_s, seed=seed), minutes,
                       dnc=store.dnc_lookup(c.name))
    if keep:
        store.sink(c)(res.records)
        store.save_contacts(c.name, res.dialer.contacts.values())
    f = res.figures
    done(f, f"{c.name} ({c.mode}, {minutes:g} simulated minutes): {f['attempts']} calls, occupancy "
            f"{f['occupancy']:.1%}, abandon rate {f['abandon_rate']:.2%} ({f['abandoned']} of {f['answered']} "
            f"answered), {f['refusals']} refusal(s)", fmt)


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
