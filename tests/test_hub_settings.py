"""Settings: scanhub.toml (working directory, ~/.config/scanhub/, SCANHUB_CONFIG), SCANHUB_*
environment variables over it, flags over both; `scanhub config show` with sources and secrets
redacted; every SCANHUB_* variable the code reads is documented."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from tests.conftest import read_line, sample_store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean place: HOME and the working directory in tmp, no SCANHUB_* variables."""
    for k in list(os.environ):
        if k.startswith("SCANHUB_") and k != "SCANHUB_TEST_PG":
            monkeypatch.delenv(k)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return {"home": home, "work": work}


def run(*args, **env):
    return CliRunner().invoke(cli.main, list(args), env=env or None, catch_exceptions=False)


def shown(**env) -> dict:
    r = run("config", "show", "--json", **env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    return {"file": out["file"], **{s["setting"]: (s["value"], s["source"]) for s in out["settings"]}}


def store_with_site(path: str, site_name: str) -> str:
    """A sample store whose site 100 is called ``site_name``, to tell stores apart."""
    from hub.network import tables as m
    from hub.store.db import database
    sample_store(path)
    m.Site.update(name=site_name).where(m.Site.code == "100").execute()
    database.close()
    return path


def site_name_seen(*args, **env) -> str:
    r = run("site", "show", "100", "--json", *args, **env)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["name"]


def test_defaults_without_a_file(env):
    s = shown()
    assert s["file"] is None
    r = run("config", "show", "--json")
    assert json.loads(r.output)["searched"] == [str(env["work"] / "scanhub.toml"),
                                               str(env["home"] / ".config" / "scanhub" / "scanhub.toml")]
    assert s["db"] == ("hub.db", "default")
    assert s["broker"] == (None, "default")


def test_the_working_directory_file_is_used_by_commands(env):
    a = store_with_site(str(env["work"] / "a.db"), "from the file")
    (env["work"] / "scanhub.toml").write_text(f'db = "{a}"\nbroker = "mqtt://10.0.0.5:1883"\n')
    s = shown()
    assert s["file"] == str(env["work"] / "scanhub.toml")
    assert s["db"] == (a, f"file {env['work'] / 'scanhub.toml'}")
    assert s["broker"][0] == "mqtt://10.0.0.5:1883"
    assert site_name_seen() == "from the file"          # no --db given: the file's store


def test_env_overrides_the_file_and_a_flag_overrides_both(env):
    a = store_with_site(str(env["work"] / "a.db"), "A")
    b = store_with_site(str(env["work"] / "b.db"), "B")
    c = store_with_site(str(env["work"] / "c.db"), "C")
    (env["work"] / "scanhub.toml").write_text(f'db = "{a}"\n')
    assert shown(SCANHUB_DB=b)["db"] == (b, "env SCANHUB_DB")
    assert site_name_seen(SCANHUB_DB=b) == "B"
    assert site_name_seen("--db", c, SCANHUB_DB=b) == "C"
    assert site_name_seen() == "A"


def test_user_file_then_working_directory_file(env):
    user_dir = env["home"] / ".config" / "scanhub"
    user_dir.mkdir(parents=True)
    store_with_site(str(user_dir / "hub.db"), "user")
    (user_dir / "scanhub.toml").write_text('db = "hub.db"\n')      # relative: next to the file
    s = shown()
    assert s["file"] == str(user_dir / "scanhub.toml")
    assert s["db"][0] == str(user_dir / "hub.db")
    assert site_name_seen() == "user"
    assert not (env["work"] / "hub.db").exists()
    w = store_with_site(str(env["work"] / "w.db"), "work")
    (env["work"] / "scanhub.toml").write_text(f'db = "{w}"\n')
    assert shown()["file"] == str(env["work"] / "scanhub.toml")
    assert site_name_seen() == "work"


def test_scanhub_config_names_the_file(env, tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text('broker = "mqtt://broker.example:1883"\n')
    (env["work"] / "scanhub.toml").write_text('broker = "mqtt://ignored:1883"\n')
    s = shown(SCANHUB_CONFIG=str(other))
    assert s["file"] == str(other) and s["broker"] == ("mqtt://broker.example:1883", f"file {other}")
    r = run("config", "show", "--json", SCANHUB_CONFIG=str(other))
    assert json.loads(r.output)["searched"] == [str(other)]
    r = run("config", "show", SCANHUB_CONFIG=str(tmp_path / "missing.toml"))
    assert r.exit_code == 1 and "missing.toml: no such file" in r.output


def test_secrets_are_redacted(env):
    (env["work"] / "scanhub.toml").write_text(
        'db = "postgresql://scanhub:dbsecret@127.0.0.1:5432/hub"\nbroker = "mqtts://hub:mqsecret@b.example:8883"\n')
    for args in (["--json"], [], ["--format", "csv"]):
        r = run("config", "show", *args, SCANHUB_BROKER_PASSWORD="envsecret")
        assert r.exit_code == 0, r.output
        for secret in ("dbsecret", "mqsecret", "envsecret"):
            assert secret not in r.output
    s = shown(SCANHUB_BROKER_PASSWORD="envsecret")
    assert s["db"][0] == "postgresql://scanhub:***@127.0.0.1:5432/hub"
    assert s["broker"][0] == "mqtts://hub:***@b.example:8883"
    assert s["broker_password"] == ("***", "env SCANHUB_BROKER_PASSWORD")


@pytest.mark.parametrize("text, message", [
    ('db = "a.db"\ncolour = "blue"\n', "unknown setting 'colour'"),
    ('db = \n', "not valid TOML"),
    ('db = 5\n', "db must be a non-empty string"),
    ('broker_password = "x"\n', "broker_password is a secret and does not belong in the file"),
])
def test_a_bad_file_is_one_clear_line(env, text, message):
    (env["work"] / "scanhub.toml").write_text(text)
    for args in (["config", "show"], ["hub", "stations"]):
        r = run(*args)
        assert r.exit_code == 1, r.output
        line = r.output.strip()
        assert "\n" not in line and message in line and "scanhub.toml" in line and "Traceback" not in line
    assert not (env["work"] / "hub.db").exists()


def test_hub_run_takes_its_broker_from_the_file(env, broker):
    db = store_with_site(str(env["work"] / "hub.db"), "x")
    (env["work"] / "scanhub.toml").write_text(f'db = "{db}"\nbroker = "{broker.url}"\n')
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "hub", "run"], cwd=env["work"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={k: v for k, v in os.environ.items() if not k.startswith("SCANHUB_")}
                            | {"HOME": str(env["home"]), "PYTHONPATH": str(ROOT)})
    try:
        first = read_line(proc.stdout, what="the broker line")
        assert first.startswith(f"broker: {broker.url}") and "managed" not in first
        assert read_line(proc.stdout, what="the running line").startswith(f"hub running on {db}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_every_scanhub_variable_is_documented():
    used = set()
    for folder in ("cli.py", "hub", "edge", "drivers", "firmware_images", "contract", "sim", "bench", "tests"):
        paths = [ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py")
        for p in paths:
            used |= set(re.findall(r"\bSCANHUB_[A-Z_]+[A-Z]\b", p.read_text(encoding="utf-8")))
    from hub.settings import CONFIG_ENV, SETTINGS
    used |= {CONFIG_ENV, *(s.env for s in SETTINGS)}
    assert {"SCANHUB_DB", "SCANHUB_BROKER", "SCANHUB_CONFIG", "SCANHUB_BROKER_PASSWORD"} <= used
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    table = doc[doc.index("### Environment variables"):]
    missing = sorted(v for v in used if f"`{v}`" not in table)
    assert not missing, f"SCANHUB_* variables not in docs/operations.md: {missing}"


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_file_content_is_settings_or_one_clear_error(tmp_path_factory, text):
    from hub.settings import SettingsError, read_file
    path = tmp_path_factory.mktemp("toml") / "scanhub.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        got = read_file(path)
    except SettingsError as e:
        assert str(e).startswith(str(path))
    else:
        assert set(got) <= {"db", "broker"} and all(isinstance(v, str) and v for v in got.values())


@hsettings(max_examples=200, deadline=None)
@given(user=st.text("abcdefgh-_", min_size=1, max_size=8),
       password=st.text(st.characters(blacklist_characters="/?#[]@", blacklist_categories=("Cs", "Cc")),
                        min_size=3, max_size=20).filter(lambda p: p.strip() == p),
       scheme=st.sampled_from(["mqtt", "mqtts", "postgresql"]))
def test_a_password_in_a_url_is_never_shown(user, password, scheme):
    from urllib.parse import quote
    from hub.settings import redact
    url = f"{scheme}://{user}:{quote(password, safe='')}@host.example:1883/x"
    assert redact("broker", url) == f"{scheme}://{user}:***@host.example:1883/x"
