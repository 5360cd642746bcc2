"""`scanhub ivr`: check, prompts made with espeak-ng and sox, try (with the WAV of what the caller
heard), and voicemail stored, listed, shown and exported, on a real store."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

import cli
from hub.ivr.audio import read_wav_info
from hub.ivr.engine import Engine
from hub.ivr.errors import IvrError
from hub.ivr.flow import load_flow
from test_ivr_engine import Clock
from test_ivr_flow import SAMPLE_FLOW
from tests.conftest import needs, sample_store

FLOWS = os.path.dirname(SAMPLE_FLOW)


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_check_says_what_is_fine_or_every_problem(tmp_path):
    r = run("ivr", "check", SAMPLE_FLOW)
    assert r.exit_code == 0 and "flow hotline is fine: 36 nodes" in r.output
    r = run("ivr", "check", SAMPLE_FLOW, "--json")
    assert json.loads(r.output)["kinds"]["menu"] == 6
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: a\nnodes:\n  a: {type: menu, play: x, keys: {'1': a}, exhausted: a}\n", encoding="utf-8")
    r = run("ivr", "check", str(bad))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{bad}:3: a: dead end" in r.output and "loop without a way out" in r.output
    r = run("ivr", "check", str(bad), "--json")
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["ok"] is False and any("dead end" in p for p in out["problems"])


def sox(*args):
    if not shutil.which("sox"):
        needs("sox", "voicemail tests make their WAV with sox")
    subprocess.run(["sox", *args], check=True, capture_output=True)


@pytest.fixture
def store(store_url):
    sample_store(store_url)
    return store_url


def leave_message(tmp_path, wav, caller="13800000000"):
    clock = Clock("2026-12-02 10:00")
    e = Engine(load_flow(SAMPLE_FLOW), clock=clock)
    e.start(caller, "95311")
    e.prompt_done()
    e.digit("2")
    e.digit("3")
    clock.ms += 20_000
    return e.recorded(wav, 2000)[0]


def test_voicemail_is_stored_listed_shown_and_exported(store, tmp_path):
    from hub.ivr import voicemail as vm
    msg = str(tmp_path / "msg.wav")
    sox("-n", "-r", "8000", "-c", "1", "-e", "a-law", "-b", "8", msg, "synth", "2", "sine", "440")
    box = str(tmp_path / "vm")
    row = vm.save(leave_message(tmp_path, msg), box)
    assert row["box"] == "complaints" and row["menu_path"] == "hours > welcome > main > query > complaint"
    assert open(os.path.join(box, row["file"]), "rb").read() == open(msg, "rb").read()
    vm.save(leave_message(tmp_path, msg, caller="13900000000"), box)

    r = run("ivr", "voicemail", "list", "--db", store, "--json")
    rows = json.loads(r.output)
    assert [x["caller"] for x in rows] == ["13900000000", "13800000000"] or \
        sorted(x["caller"] for x in rows) == ["13800000000", "13900000000"]
    assert all(x["state"] == "new" and x["duration_ms"] == 2000 for x in rows)
    r = run("ivr", "voicemail", "list", "--db", store, "--caller", "13800000000")
    assert r.exit_code == 0 and "complaints" in r.output and "13900000000" not in r.output

    r = run("ivr", "voicemail", "show", str(row["id"]), "--heard", "--dir", box, "--db", store, "--json")
    shown = json.loads(r.output)
    assert r.exit_code == 0 and shown["present"] and shown["state"] == "heard"
    assert read_wav_info(shown["path"]).duration_ms == 2000

    out = tmp_path / "out"
    r = run("ivr", "voicemail", "export", str(out), "--dir", box, "--db", store, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["exported"] == 2
    index = json.loads((out / "index.json").read_text())
    assert {i["exported_file"] for i in index} == {f"voicemail-{i['id']}.wav" for i in index}
    assert (out / "index.csv").read_text().startswith("id,box,caller")
    # a file changed behind the store's back is not exported, and the command says so
    with open(os.path.join(box, row["file"]), "ab") as f:
        f.write(b"x")
    r = run("ivr", "voicemail", "export", str(tmp_path / "out2"), "--dir", box, "--db", store)
    assert r.exit_code == 1 and "1 of 2 message file(s) missing or changed" in r.output
    r = run("ivr", "voicemail", "show", "999", "--db", store)
    assert r.exit_code == 1 and "no voicemail 999" in r.output


def test_a_recording_that_is_no_wav_is_refused_and_nothing_is_stored(store, tmp_path):
    from hub.ivr import voicemail as vm
    from hub.ivr.tables import Voicemail
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(IvrError, match="is not a WAV file"):
        vm.save(leave_message(tmp_path, str(junk)), str(tmp_path / "vm"))
    assert Voicemail.select().count() == 0


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The sample flow copied to a directory of its own, its prompts made once (espeak-ng, sox)."""
    for prog, pkg in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
        if not shutil.which(prog):
            needs(pkg, "prompts are made with espeak-ng and converted with sox")
    d = tmp_path_factory.mktemp("flow")
    for name in ("hotline.yaml", "holidays-2026.yaml"):
        shutil.copy(os.path.join(FLOWS, name), d / name)
    db = sample_store(str(d / "hub.db"))
    r = run("ivr", "prompts", str(d / "hotline.yaml"), "--db", db, "--json")
    assert r.exit_code == 0, r.output
    return d, db, json.loads(r.output.strip().splitlines()[-1])


def test_prompts_are_made_as_8_khz_a_law_and_kept_the_second_time(made):
    d, db, res = made
    assert res["made"] > 60 and res["kept"] == 0
    info = read_wav_info(str(d / "prompts" / "main_menu.wav"))
    assert info.is_prompt and info.duration_ms > 1000
    assert read_wav_info(str(d / "prompts" / "site" / "100.wav")).is_prompt
    r = run("ivr", "prompts", str(d / "hotline.yaml"), "--db", db, "--list", "--json")
    rows = json.loads(r.output)
    assert rows and all(x["state"] == "ok" for x in rows)
    r = run("ivr", "prompts", str(d / "hotline.yaml"), "--db", db, "--json")
    assert json.loads(r.output.strip().splitlines()[-1])["made"] == 0


def test_try_walks_the_flow_and_writes_what_the_caller_heard(made, tmp_path):
    d, db, _ = made
    out = tmp_path / "call.wav"
    r = run("ivr", "try", str(d / "hotline.yaml"), "--db", db, "--at", "2026-12-02 10:00",
            "--keys", "7,.,1,9,3,0", "--wav", str(out))
    assert r.exit_code == 0, r.output
    assert "输入有误" in r.output and "您没有按键" in r.output and "→ transfer to queue pickup" in r.output
    heard = ["welcome", "promo", "main_menu", "invalid_key", "main_menu", "no_input", "main_menu", "consult_menu",
             "main_menu", "pickup_menu", "transfer_pickup"]
    total = sum(read_wav_info(str(d / "prompts" / f"{p}.wav")).data_bytes for p in heard)
    info = read_wav_info(str(out))
    assert info.is_prompt and abs(info.data_bytes - total) <= 8 * len(heard)
    r = run("ivr", "try", str(d / "hotline.yaml"), "--at", "2026-12-02 10:00", "--keys", "2,3", "--trail")
    assert "voicemail for box complaints" in r.output and '"event": "recorded"' in r.output


def test_try_reads_typed_keys_at_the_terminal():
    r = CliRunner().invoke(cli.main, ["ivr", "try", SAMPLE_FLOW, "--at", "2026-12-02 10:00"], input="2\n\n\nh\n")
    assert r.exit_code == 0, r.output
    assert r.output.count("查询快件请按一，查询我的订单") == 3          # two silences: the menu again each time
    assert '"end": "caller_hangup"' in r.output and "path: hours > welcome > main > query" in r.output


def test_a_site_takes_its_area_code_one_record_at_a_time(store):
    r = run("site", "set", "101", "--area-code", "0571", "--db", store)
    assert r.exit_code == 0, r.output
    r = run("site", "set", "101", "--area-code", "571", "--db", store)
    assert r.exit_code == 1 and "area_code '571' is not a telephone area code" in r.output
    from hub.ivr.selfservice import nearest_site
    from hub.schema import connect
    connect(store)
    assert nearest_site("0571") == "100"            # the lower code of the two sites that carry it


def test_prompts_can_live_outside_the_flows_folder(made, tmp_path):
    d, db, _ = made
    r = run("ivr", "prompts", str(d / "hotline.yaml"), "--list", "--prompts-dir", str(tmp_path / "p"), "--json")
    assert r.exit_code == 0 and {x["state"] for x in json.loads(r.output)} == {"missing"}
    assert all(x["file"].startswith(str(tmp_path / "p")) for x in json.loads(r.output))


def test_try_tracks_a_parcel_and_the_wav_reads_its_status_and_site(made, tmp_path):
    import uuid

    from hub.ingest import pipeline
    from hub.schema import connect
    from tests.conftest import wb
    d, db, _ = made
    connect(db)
    w = wb(41)
    t0 = 1_796_176_800_000
    pipeline.commit([{"id": uuid.uuid4().hex, "station": "st-100-1", "epoch": "e1", "seq": 1, "kind": "receive",
                      "waybill": w, "site": "100", "edge_ms": t0, "event_ms": t0}])
    out = tmp_path / "track.wav"
    r = run("ivr", "try", str(d / "hotline.yaml"), "--db", db, "--at", "2026-12-02 10:00",
            "--keys", f"2,1,{w}#,0", "--wav", str(out))
    assert r.exit_code == 0, r.output
    assert "您查询的快件 已收件 目前在 Xihu Site" in r.output
    heard = ["welcome", "promo", "main_menu", "query_menu", "enter_waybill", "track/intro", "status/receive",
             "track/at", "site/100", "track_again", "transfer_agent"]
    total = sum(read_wav_info(str(d / "prompts" / f"{p}.wav")).data_bytes for p in heard)
    assert abs(read_wav_info(str(out)).data_bytes - total) <= 8 * len(heard)


def test_voicemail_lengths_print_as_seconds_not_as_times(store, tmp_path):
    from hub.ivr import voicemail as vm
    msg = str(tmp_path / "msg.wav")
    sox("-n", "-r", "8000", "-c", "1", "-e", "a-law", "-b", "8", msg, "synth", "2", "sine", "440")
    row = vm.save(leave_message(tmp_path, msg), str(tmp_path / "vm"))
    r = run("ivr", "voicemail", "list", "--db", store, "--format", "csv")
    assert r.exit_code == 0 and "seconds" in r.output.splitlines()[0] and ",2.0," in r.output
    assert "1970" not in r.output
    r = run("ivr", "voicemail", "show", str(row["id"]), "--dir", str(tmp_path / "vm"), "--db", store)
    assert "seconds: 2.0" in r.output and "1970" not in r.output and "menu_path: hours > welcome" in r.output


def test_the_ivr_demo_places_calls_while_parcels_move_and_saves_a_tracking_call(made, tmp_path):
    d, db, _ = made
    out = tmp_path / "demo-call.wav"
    r = run("sim", "ivr", "--calls", "6", "--parcels", "3", "--dir", str(d), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "parcels: 3 receive at site 100" in r.output and "parcels: 3 sign at site 200" in r.output
    assert r.output.count("  call ") == 6 and "tracks 7000" in r.output and "已收件" in r.output
    assert read_wav_info(str(out)).is_prompt and read_wav_info(str(out)).duration_ms > 5000
    calls = json.loads((d / "calls.json").read_text(encoding="utf-8"))
    assert len(calls) == 6 and all(c["end"] in ("transfer", "hangup", "voicemail") for c in calls)
