"""``scanhub ivr``: check flows, make their prompts, walk them from the terminal, voicemail."""
from __future__ import annotations

import os
import sys

import click

from hub.cli.common import db_option, done, emit, format_option, json_option, open_store, parse_when, utc_option

VOICEMAIL_DIR = "SCANHUB_VOICEMAIL_DIR"
prompts_dir_option = click.option("--prompts-dir", default=None, type=click.Path(file_okay=False),
                                  help="Prompt files here instead of the flow's prompts_dir (e.g. beside your store).")


def _load(flow, prompts_dir):
    from hub.ivr.flow import load_flow
    f = load_flow(flow)
    if prompts_dir:
        f.prompts_dir = os.path.abspath(prompts_dir)
    return f
dir_option = click.option("--dir", "directory", envvar=VOICEMAIL_DIR, default="voicemail", show_default=True,
                          help=f"Voicemail directory (the WAV files; env {VOICEMAIL_DIR}).")


@click.group("ivr")
def ivr():
    """IVR flows: check them, make their prompts, try them, and the voicemail callers left.

    \b
    Examples:
      scanhub ivr check hub/ivr/flows/hotline.yaml
      scanhub ivr prompts hub/ivr/flows/hotline.yaml --db hub.db
      scanhub ivr try hub/ivr/flows/hotline.yaml --db hub.db --at "2026-12-02 10:00"
      scanhub ivr voicemail list --db hub.db
    The flow format and the engine's interface: docs/ivr.md.
    """


@ivr.command("check")
@click.argument("flow", type=click.Path(dir_okay=False))
@json_option
def ivr_check(flow, fmt):
    """Check FLOW: every problem with its place (file:line: node), dead ends and loops included.

    Exit status 1 with the list of problems when the flow cannot be used (with --json:
    {"ok": false, "problems": [...]}).

    \b
    Examples:
      scanhub ivr check hub/ivr/flows/hotline.yaml
      scanhub ivr check my-flow.yaml --json | jq -r '.problems[]'
    """
    from hub.ivr.errors import FlowError
    from hub.ivr.flow import load_flow
    try:
        f = load_flow(flow)
    except FlowError as e:
        if fmt != "json":
            raise
        done({"flow": flow, "ok": False, "problems": e.problems}, "", fmt)
        raise click.exceptions.Exit(1) from e
    kinds: dict[str, int] = {}
    for n in f.nodes.values():
        kinds[n["type"]] = kinds.get(n["type"], 0) + 1
    done({"flow": f.name, "ok": True, "nodes": len(f.nodes), "kinds": kinds, "prompts": len(f.prompt_ids())},
         f"{flow}: flow {f.name} is fine: {len(f.nodes)} nodes "
         f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), {len(f.prompt_ids())} prompts", fmt)


def _sites(db):
    if not db:
        return None
    open_store(db)
    from hub.ivr.prompts import site_texts
    return site_texts()


@ivr.command("prompts")
@click.argument("flow", type=click.Path(dir_okay=False))
@click.option("--db", default=None, help="Hub store: also make a prompt of each site's name (site/<code>).")
@click.option("--list", "list_only", is_flag=True, help="Only list the prompts and whether their files are there.")
@click.option("--force", is_flag=True, help="Make every prompt again, even those whose files are there.")
@prompts_dir_option
@format_option
def ivr_prompts(flow, db, list_only, force, prompts_dir, fmt):
    """Make FLOW's missing prompts with espeak-ng (8 kHz A-law WAV files in its prompts_dir).

    Files already there are kept (a recorded voice replaces a synthesised one by taking its
    name), unless --force.

    \b
    Examples:
      scanhub ivr prompts hub/ivr/flows/hotline.yaml --db hub.db
      scanhub ivr prompts hub/ivr/flows/hotline.yaml --list --format csv
      scanhub ivr prompts hub/ivr/flows/hotline.yaml --prompts-dir /var/lib/scanhub/prompts
    """
    from hub.ivr import prompts as pr
    f = _load(flow, prompts_dir)
    sites = _sites(db)
    if list_only:
        emit(pr.status(f, sites), fmt, f"prompts of {f.name}", columns=["prompt", "state", "text", "file"],
             totals=False)
        return
    total = len(pr.texts(f, sites))
    with click.progressbar(length=total, label="making prompts", file=sys.stderr) as bar:
        res = pr.generate(f, sites, force=force, progress=lambda row: bar.update(1))
    done(res, f"{res['made']} prompt(s) made, {res['kept']} kept, in {res['dir']}", "json" if fmt == "json" else "text")


def _text_of(texts, pid):
    return texts.get(pid, f"[{pid}]")


@ivr.command("try")
@click.argument("flow", type=click.Path(dir_okay=False))
@click.option("--db", default=None, help="Hub store for self-service answers (tracking, quotes, sites, orders).")
@click.option("--caller", default="13800000000", show_default=True, help="The caller's number.")
@click.option("--callee", default="95311", show_default=True, help="The number called.")
@click.option("--at", "at", default=None, help="The call's time, e.g. \"2026-10-01 09:00\" (default now).")
@click.option("--keys", default=None,
              help="Keys to press instead of reading them: lines split by ','; '.' is a timeout, 'h' hangs up.")
@click.option("--wav", default=None, type=click.Path(dir_okay=False),
              help="Write every prompt the call played into this WAV file (needs the prompt files).")
@click.option("--trail", is_flag=True, help="Print the engine's trail (every step and key with its time) at the end.")
@prompts_dir_option
@utc_option
def ivr_try(flow, db, caller, callee, at, keys, wav, trail, prompts_dir):
    """Walk FLOW from the terminal: see each prompt, type keys (Enter alone waits for the timeout,
    h hangs up).

    \b
    Examples:
      scanhub ivr try hub/ivr/flows/hotline.yaml
      scanhub ivr try hub/ivr/flows/hotline.yaml --db hub.db --keys 2,1,70000000000016#,9
      scanhub ivr try hub/ivr/flows/hotline.yaml --at "2026-10-01 10:00" --keys 1,. --wav call.wav
    """
    import json

    from hub.ivr import prompts as pr
    from hub.ivr.engine import Engine, Services
    f = _load(flow, prompts_dir)
    sites = _sites(db)
    services = Services()
    if db:
        from hub.ivr.selfservice import HubServices
        services = HubServices()
    start = parse_when(at)
    import time as _t
    t0 = int(_t.time() * 1000)
    clock = (lambda: start + int(_t.time() * 1000) - t0) if start is not None else None
    eng = Engine(f, services, clock)
    texts = pr.texts(f, sites)
    script = None if keys is None else [k.strip() for k in keys.split(",")]
    played: list[str] = []

    def run(actions):
        pending = list(actions)
        while pending:
            a = pending.pop(0)
            kind = a["action"]
            if kind == "play":
                played.extend(a["prompts"])
                click.echo("  ♪ " + " ".join(_text_of(texts, p) for p in a["prompts"]))
                if not any(x["action"] == "collect" for x in pending):
                    pending = eng.prompt_done() + pending
                else:
                    eng.prompt_done()
            elif kind == "collect":
                click.echo(f"  [keys: up to {a['max_digits']}" + (f", end with {a['terminator']}" if a["terminator"]
                                                                  else "") + f"; {a['timeout_ms'] // 1000} s]")
            elif kind == "record":
                click.echo(f"  [recording up to {a['max_ms'] // 1000} s: nothing is recorded here]")
                pending = eng.recorded("", 0) + pending
            elif kind == "save_voicemail":
                click.echo(f"  [voicemail for box {a['box']} from {a['caller']}, path {' > '.join(a['menu_path'])}]")
            elif kind == "transfer":
                click.echo(f"  → transfer to {a['to']} {a['target']}")
            elif kind == "hangup":
                click.echo("  → hang up")

    click.echo(f"call from {caller} to {callee}")
    run(eng.start(caller, callee))
    while not eng.ended:
        if script is not None:
            if not script:
                click.echo("  (no more keys: hanging up)")
                eng.hangup()
                break
            line = script.pop(0)
            click.echo(f"> {line}")
        else:
            line = click.prompt(">", default="", show_default=False, prompt_suffix=" ")
        line = line.strip()
        if line in ("h", "hangup"):
            eng.hangup()
        elif line in ("", "."):
            run(eng.timeout())
        else:
            for key in line:
                run(eng.digit(key))
                if eng.ended:
                    break
    click.echo(f"ended: {json.dumps(eng.result, ensure_ascii=False)}")
    click.echo("path: " + " > ".join(eng.path))
    if trail:
        for step in eng.trail:
            click.echo(json.dumps(step, ensure_ascii=False))
    if wav:
        pr.render(f, played, wav)
        click.echo(f"wrote {wav} ({len(played)} prompts)")


@ivr.group("voicemail")
def voicemail():
    """Messages callers left: list, show (and mark heard), export with an index.

    \b
    Examples:
      scanhub ivr voicemail list --box complaints --db hub.db
      scanhub ivr voicemail show 12 --db hub.db
      scanhub ivr voicemail export out/ --box complaints --db hub.db
    """


@voicemail.command("list")
@click.option("--box", default=None, help="Only this box (a voicemail node's box, e.g. complaints).")
@click.option("--caller", default=None, help="Only messages from this number.")
@click.option("--state", type=click.Choice(["new", "heard", "exported"]), default=None, help="Only messages in this state.")
@format_option
@utc_option
@db_option
def voicemail_list(box, caller, state, fmt, db):
    """List voicemail, newest first.

    \b
    Example:
      scanhub ivr voicemail list --state new --json
    """
    open_store(db)
    from hub.ivr import voicemail as vm
    emit(vm.messages(box, caller, state), fmt, "voicemail",
         columns=["id", "box", "caller", "recorded_ms", "seconds", "menu_path", "state", "file"], totals=False)


@voicemail.command("show")
@click.argument("vid", type=int)
@click.option("--heard", is_flag=True, help="Mark the message heard.")
@dir_option
@json_option
@utc_option
@db_option
def voicemail_show(vid, heard, directory, fmt, db):
    """One message: caller, menu path, times, and the path of its WAV file.

    \b
    Example:
      scanhub ivr voicemail show 12 --heard && play "$(scanhub ivr voicemail show 12 --json | jq -r .path)"
    """
    open_store(db)
    from hub.cli.common import human
    from hub.ivr import voicemail as vm
    row = vm.message(vid, directory, mark_heard=heard)
    # duration_ms is a length, not a time: people read it as seconds
    text = "\n".join(f"{k}: {v}" for k, v in human([{k: v for k, v in row.items() if k != "duration_ms"}])[0].items())
    done(row, text, fmt)
    if not row["present"]:
        click.echo(f"the file {row['path']} is missing", err=True)
        raise click.exceptions.Exit(1)


@voicemail.command("export")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--box", default=None, help="Only this box.")
@click.option("--since", default=None, help="Only messages recorded from this time on, e.g. 2026-12-01.")
@dir_option
@json_option
@utc_option
@db_option
def voicemail_export(out, box, since, directory, fmt, db):
    """Copy messages to OUT as voicemail-<id>.wav with index.csv and index.json.

    Each file is checked against its recorded SHA-256; exit status 1 when any is missing or changed.

    \b
    Example:
      scanhub ivr voicemail export complaints-today/ --box complaints --since 2026-12-02
    """
    open_store(db)
    from hub.cli.common import fail_partly
    from hub.ivr import voicemail as vm
    res = vm.export(out, directory, box, parse_when(since))
    done(res, f"{res['exported']} message(s) exported to {os.path.abspath(out)}", fmt)
    fail_partly(len(res["missing"]), res["exported"] + len(res["missing"]), "message file(s) missing or changed")
