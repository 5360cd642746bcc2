"""``scanhub sim ivr``: calls into the sample IVR while parcels move, without a telephone line.

A SQLite hub store with the sample network and tariff; parcels moved through the scan pipeline
(receive, dispatch, arrive, sign) in steps, and between the steps callers walk the sample hotline
through the real engine and self-service: some track a parcel by keypad, some ask for a quote,
some leave a complaint (their "voice" spoken by espeak-ng), the rest press random keys.  The
audio of the first call that tracks a parcel is saved as one WAV a newcomer can play.  The calls
go through ``hub.ivr.engine`` directly: the telephone line itself is the telephony service's.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import uuid

import click

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STEPS = (("receive", "100", {}), ("dispatch", "100", {"next_site": "900"}), ("arrive", "200", {}),
         ("sign", "200", {"signer": "王芳"}))
T0 = 1_796_176_800_000            # 2026-12-02 10:00 +08:00, office hours


def _waybills(n: int) -> list[str]:
    from contract.waybill import WaybillRules
    rules = WaybillRules([{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}])
    return [rules.make("std14", "7000%02d%07d" % (0, 500 + i)) for i in range(n)]


def _call(flow, services, clock, keys, caller, vm_dir, voice_wav):
    """One call: ``keys`` a list of key strings ('.' a silence).  Returns the engine and what it played."""
    from hub.ivr import voicemail
    from hub.ivr.engine import Engine
    e = Engine(flow, services, lambda: clock[0])
    played: list[str] = []

    def carry(actions):
        pending = list(actions)
        while pending:
            a = pending.pop(0)
            if a["action"] == "play":
                played.extend(a["prompts"])
                if not any(x["action"] == "collect" for x in pending):
                    pending = e.prompt_done() + pending
                else:
                    e.prompt_done()
            elif a["action"] == "record":
                pending = e.recorded(voice_wav, 3000) + pending
            elif a["action"] == "save_voicemail":
                voicemail.save(a, vm_dir)
    carry(e.start(caller, "95311"))
    for k in keys:
        if e.ended:
            break
        clock[0] += 2000
        if k == ".":
            carry(e.timeout())
        else:
            for ch in k:
                carry(e.digit(ch))
    for _ in range(20):
        if e.ended:
            break
        clock[0] += 5000
        carry(e.timeout())
    return e, played


@click.command("ivr")
@click.option("--calls", default=12, show_default=True, help="Calls placed into the IVR.")
@click.option("--parcels", default=8, show_default=True, help="Parcels moving through the network meanwhile.")
@click.option("--out", default="ivr-call.wav", show_default=True, type=click.Path(dir_okay=False),
              help="Where to save the audio of the first call that tracks a parcel.")
@click.option("--dir", "workdir", default=None, type=click.Path(file_okay=False),
              help="Keep the store, prompts and voicemail here (default: a temporary folder, removed).")
@click.option("--seed", default=7, show_default=True, help="Seed of the random callers.")
def ivr(calls, parcels, out, workdir, seed):
    """Callers walk the sample IVR while parcels move; saves one tracking call's audio.

    Needs espeak-ng and sox (the prompts are made on the first run, in --dir when given).

    \b
    Examples:
      scanhub sim ivr --out call.wav && play call.wav
      scanhub sim ivr --calls 40 --dir /tmp/ivr-demo
    """
    from hub.business.tariff import install, load_tariff
    from hub.ingest import pipeline
    from hub.ivr import audio, prompts, voicemail
    from hub.ivr.flow import load_flow
    from hub.ivr.selfservice import HubServices
    from hub.network.basic_data import import_network
    from hub.network.file import load_network
    from hub.schema import connect

    rng = random.Random(seed)
    tmp = workdir or tempfile.mkdtemp(prefix="scanhub-ivr-")
    os.makedirs(tmp, exist_ok=True)
    try:
        for name in ("hotline.yaml", "holidays-2026.yaml"):
            shutil.copy(os.path.join(ROOT, "hub", "ivr", "flows", name), os.path.join(tmp, name))
        db = os.path.join(tmp, "hub.db")
        fresh = not os.path.exists(db)
        connect(db, create=True)
        if fresh:
            import_network(load_network(os.path.join(HERE, "networks", "sample.yaml")))
            install(load_tariff(os.path.join(HERE, "networks", "tariff-sample.yaml")))
        flow = load_flow(os.path.join(tmp, "hotline.yaml"))
        rows = prompts.status(flow, prompts.site_texts())
        todo = sum(r["state"] != "ok" for r in rows)
        with click.progressbar(length=todo, label=f"making {todo} prompt(s)", file=sys.stderr) as bar:
            prompts.generate(flow, prompts.site_texts(), progress=lambda r: bar.update(1))
        voice = os.path.join(tmp, "caller-voice.wav")
        audio.speak("我的快件三天了还没有送到，请尽快联系我", flow.voice, voice)

        wbs = _waybills(parcels)
        clock = [T0]
        services = HubServices(clock=lambda: clock[0])
        seq = {}
        saved = None
        results = []
        per_step = max(1, calls // len(STEPS))
        n = 0
        for step, (kind, site, extra) in enumerate(STEPS):
            scans = []
            for w in wbs:
                seq[site] = seq.get(site, 0) + 1
                scans.append({"id": uuid.uuid4().hex, "station": f"st-{site}-1", "epoch": "demo", "seq": seq[site],
                              "kind": kind, "waybill": w, "site": site, "edge_ms": clock[0], "event_ms": clock[0],
                              **extra})
            pipeline.commit(scans)
            click.echo(f"parcels: {len(wbs)} {kind} at site {site}")
            for _ in range(per_step if step < len(STEPS) - 1 else calls - n):
                n += 1
                caller = f"1380000{n:04d}"
                what = rng.choice(["track", "track", "quote", "complaint", "random"])
                w = rng.choice(wbs)
                keys = {"track": ["2", "1", w + "#", "9", "3", "0"], "quote": ["1", "1", "0571#", "021#", "3#", "9", "0"],
                        "complaint": ["2", "3"],
                        "random": [rng.choice("0123456789*#.") for _ in range(rng.randint(1, 8))]}[what]
                if saved is None and step == 0:
                    what, keys = "track", ["2", "1", w + "#", "9", "3", "0"]
                clock[0] += 60_000
                e, played = _call(flow, services, clock, keys, caller, os.path.join(tmp, "voicemail"), voice)
                results.append({"call": n, "caller": caller, "wants": what, "end": e.result["end"],
                                "target": e.result.get("target") or e.result.get("box") or "",
                                "path": " > ".join(e.path)})
                if what == "track" and saved is None:
                    prompts.render(flow, played, out)
                    saved = (caller, w, played)
                click.echo(f"  call {n} from {caller} ({what}): {e.result['end']} "
                           f"{results[-1]['target']}  [{len(e.path)} nodes]")
            clock[0] += 3_600_000
        msgs = voicemail.messages()
        click.echo(f"{len(results)} calls, {len(msgs)} voicemail message(s) kept")
        if saved:
            texts = prompts.texts(flow, prompts.site_texts())
            click.echo(f"saved {out}: caller {saved[0]} tracks {saved[1]} and hears: "
                       + " ".join(texts.get(p, p) for p in saved[2][-7:]))
        with open(os.path.join(tmp, "calls.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, ensure_ascii=False, indent=1)
    finally:
        from hub.store.db import database
        if not database.is_closed():
            database.close()
        if not workdir:
            shutil.rmtree(tmp, ignore_errors=True)
