"""A flow's prompts: which exist, which are missing, and making the missing ones.

A prompt id names a file in the flow's ``prompts_dir``: ``main_menu`` is ``prompts/main_menu.wav``,
``digit/7`` is ``prompts/digit/7.wav``.  The texts come from, in order: the flow's ``prompts:``,
the self-service answers (``hub.ivr.selfservice.PROMPTS``), the readings of numbers
(``hub.ivr.say.BUILTIN_PROMPTS``) and, with a store, every site's name (``site/<code>``).
``generate`` speaks each missing one with espeak-ng (the flow's ``voice``, Mandarin ``cmn`` by
default) into an 8 kHz A-law WAV; a file that is there is kept unless ``force``, so a recorded
voice can replace any synthesised prompt.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from hub.ivr import audio
from hub.ivr.flow import Flow
from hub.ivr.say import BUILTIN_PROMPTS
from hub.ivr.selfservice import PROMPTS as SERVICE_PROMPTS


def site_texts() -> dict[str, str]:
    """``site/<code>`` -> the site's name, from the bound store."""
    from hub.network import tables as net
    return {f"site/{s.code}": s.name for s in net.Site.select().order_by(net.Site.code)}


def texts(flow: Flow, sites: dict[str, str] | None = None) -> dict[str, str]:
    """Every prompt a call through ``flow`` may play, with its text."""
    out = dict(BUILTIN_PROMPTS)
    out.update(SERVICE_PROMPTS)
    out.update(sites or {})
    out.update(flow.prompts)
    return out


def path_of(flow: Flow, pid: str) -> str:
    return os.path.join(flow.prompts_dir, *pid.split("/")) + ".wav"


def status(flow: Flow, sites: dict[str, str] | None = None) -> list[dict]:
    """One row per prompt: id, text, file, and whether the file is there and playable."""
    rows = []
    for pid, text in sorted(texts(flow, sites).items()):
        p = path_of(flow, pid)
        state = "missing"
        if os.path.exists(p):
            try:
                state = "ok" if audio.read_wav_info(p).is_prompt else "wrong format"
            except audio.IvrError:
                state = "not a WAV"
        rows.append({"prompt": pid, "text": text, "file": p, "state": state})
    return rows


def generate(flow: Flow, sites: dict[str, str] | None = None, force: bool = False,
             progress: Callable[[dict], None] | None = None) -> dict:
    """Speak every missing (or, with ``force``, every) prompt; returns counts."""
    made = kept = 0
    for row in status(flow, sites):
        if row["state"] == "ok" and not force:
            kept += 1
            continue
        os.makedirs(os.path.dirname(row["file"]), exist_ok=True)
        tmp = row["file"] + ".part.wav"
        audio.speak(row["text"], flow.voice, tmp)
        os.replace(tmp, row["file"])
        made += 1
        if progress:
            progress(row)
    return {"made": made, "kept": kept, "dir": flow.prompts_dir}


def render(flow: Flow, prompt_ids: list[str], out_path: str) -> None:
    """The prompts one after the other in one WAV (what a caller heard)."""
    missing = [p for p in prompt_ids if not os.path.exists(path_of(flow, p))]
    if missing:
        raise audio.IvrError(f"{len(missing)} prompt file(s) missing ({', '.join(sorted(set(missing))[:5])}…): "
                             f"run `scanhub ivr prompts {flow.source}` first")
    audio.join([path_of(flow, p) for p in prompt_ids], out_path)
