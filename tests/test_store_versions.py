"""Store versions: a store carries its schema version; an older or newer one is refused with what
to do; `scanhub hub migrate` upgrades an older one (new tables, columns as the tables define
them, data kept); commands that only read never create an empty store file."""
from __future__ import annotations

import json

import peewee
import pytest
from click.testing import CliRunner

import cli
from hub.store.versions import SCHEMA_VERSION as V
from tests.conftest import SAMPLE, sample_store


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def columns(url):
    from hub.store.db import database
    from hub.store.versions import _column_lengths
    return _column_lengths(database.obj, "scanevent")


def make_version_1(url: str, record_version: bool = True) -> None:
    """A store as scanhub made it before version 2 (from the tables of the sample store): no
    basic-data change log, the scan table's operator and courier columns narrower than the scan
    contract and no signer column, one committed scan, and version 1 recorded (or, as stores
    that `hub import` created, no version at all)."""
    from hub.store.db import database
    sample_store(url)
    db = database.obj
    db.execute_sql('DROP TABLE "basic_data_change"')
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql('ALTER TABLE "scanevent" ALTER COLUMN "operator" TYPE VARCHAR(16)')
        db.execute_sql('ALTER TABLE "scanevent" ALTER COLUMN "courier" TYPE VARCHAR(16)')
        db.execute_sql('ALTER TABLE "scanevent" DROP COLUMN "signer"')
    else:
        sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = 'scanevent'").fetchone()[0]
        indexes = [r[0] for r in db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'scanevent' AND type = 'index' AND sql IS NOT NULL")]
        db.execute_sql('DROP TABLE "scanevent"')
        narrow = (sql.replace('"operator" VARCHAR(32)', '"operator" VARCHAR(16)')
                  .replace('"courier" VARCHAR(32)', '"courier" VARCHAR(16)').replace(', "signer" VARCHAR(100)', ''))
        assert narrow != sql
        db.execute_sql(narrow)
        for i in indexes:
            db.execute_sql(i)
    db.execute_sql("INSERT INTO scanevent (id, station, epoch, seq, kind, waybill, site, operator, edge_ms, event_ms, "
                   "clock, received_ms) VALUES ('s-1', 'st-100-1', '', 1, 'receive', '70000000000017', '100', "
                   "'1002', 1, 1, 'trusted', 1)")
    if record_version:
        db.execute_sql("UPDATE meta SET value = '1' WHERE key = 'schema'")
    else:
        db.execute_sql("DELETE FROM meta WHERE key = 'schema'")
    database.close()


def test_a_new_store_records_the_current_version(tmp_path):
    from hub.store.meta import get_meta
    from hub.store.versions import SCHEMA_VERSION
    db = str(tmp_path / "hub.db")
    assert run("hub", "init", "--db", db).exit_code == 0
    from hub.schema import connect
    connect(db)
    assert get_meta("schema") == str(SCHEMA_VERSION)
    r = run("hub", "migrate", "--db", db)
    assert r.exit_code == 0 and "nothing to do" in r.output


@pytest.mark.parametrize("record_version", [True, False])
def test_an_older_store_is_refused_then_migrated(store_url, record_version):
    make_version_1(store_url, record_version)
    for args in (["hub", "stations"], ["hub", "gaps"], ["track", "70000000000017"], ["staff", "list"],
                 ["hub", "init"], ["hub", "import", SAMPLE]):
        r = run(*args, "--db", store_url)
        assert r.exit_code == 1, (args, r.output)
        assert f"schema version 1, this scanhub uses {V}" in r.output and "scanhub hub migrate" in r.output
        assert "Traceback" not in r.output
    # refusing changed nothing
    from hub.schema import connect
    db = connect(store_url, check=False)
    assert not db.table_exists("basic_data_change") and "signer" not in columns(store_url)

    r = run("hub", "migrate", "--db", store_url, "--dry-run")
    assert r.exit_code == 0 and "schema 1 -> 2" in r.output
    r = run("hub", "migrate", "--db", store_url, "--dry-run", "--json")
    plan = json.loads(r.output)
    assert (plan["schema"], plan["target"], [(s["from"], s["to"]) for s in plan["steps"]]) == \
        (1, V, [(v, v + 1) for v in range(1, V)])
    assert "signer" not in columns(store_url)

    r = run("hub", "migrate", "--db", store_url, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["schema"] == V and [s["to"] for s in out["steps"]] == list(range(2, V + 1))
    changes = out["steps"][0]["changes"]
    # the first step makes every column as the tables define it (later steps' columns too)
    assert {"basic_data_change: created", "scanevent.courier: 16 -> 32 characters",
            "scanevent.operator: 16 -> 32 characters", "scanevent.signer: added"} <= set(changes)

    db = connect(store_url)                       # accepted now
    assert columns(store_url)["operator"] == 32 and columns(store_url)["courier"] == 32
    assert columns(store_url)["signer"] == 100
    assert db.execute_sql("SELECT operator, waybill FROM scanevent").fetchall() == [("1002", "70000000000017")]
    # a 32-character operator (what the scan contract allows) fits now, on PostgreSQL too
    db.execute_sql("UPDATE scanevent SET operator = ?".replace("?", db.param), ("o" * 32,))
    r = run("track", "70000000000017", "--db", store_url, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["events"][0]["operator"] == "o" * 32
    assert run("staff", "set", "1001", "--phone", "1", "--db", store_url).exit_code == 0
    r = run("hub", "migrate", "--db", store_url)
    assert r.exit_code == 0 and "nothing to do" in r.output


def test_the_narrow_store_really_refused_long_values_on_postgresql(pg_url):
    """The column change matters: before the migration PostgreSQL refuses what the contract allows."""
    make_version_1(pg_url)
    from hub.schema import connect
    db = connect(pg_url, check=False)
    with pytest.raises(peewee.DataError):
        with db.atomic():
            db.execute_sql("UPDATE scanevent SET operator = %s", ("o" * 32,))


def test_a_newer_store_is_refused_and_not_downgraded(store_url):
    from hub.store.db import database
    sample_store(store_url)
    database.obj.execute_sql(f"UPDATE meta SET value = '{V + 1}' WHERE key = 'schema'")
    database.close()
    for args in (["hub", "stations"], ["hub", "migrate"], ["hub", "import", SAMPLE], ["site", "list"]):
        r = run(*args, "--db", store_url)
        assert r.exit_code == 1, (args, r.output)
        assert f"schema version {V + 1}, newer than this scanhub's {V}" in r.output, r.output
    from hub.schema import connect
    from hub.store.meta import get_meta
    connect(store_url, check=False)
    assert get_meta("schema") == str(V + 1)


def test_a_version_that_is_not_a_number_is_refused(tmp_path):
    from hub.store.db import database
    db = sample_store(str(tmp_path / "hub.db"))
    database.obj.execute_sql("UPDATE meta SET value = 'two' WHERE key = 'schema'")
    database.close()
    r = run("hub", "stations", "--db", db)
    assert r.exit_code == 1 and "schema version 'two' is not a number" in r.output


READ_ONLY = [["hub", "stations"], ["hub", "gaps"], ["hub", "check"], ["hub", "dead-letters"],
             ["hub", "config", "--site", "100"], ["hub", "migrate"], ["track", "70000000000017"],
             ["site", "list"], ["staff", "show", "1001"], ["shift", "history"], ["rule", "list"],
             ["monitor", "not-arrived", "--site", "100"], ["hub", "credentials", "--out", "creds"]]


@pytest.mark.parametrize("args", READ_ONLY, ids=[" ".join(a[:2]) for a in READ_ONLY])
def test_read_only_commands_never_create_a_store_file(tmp_path, args):
    db = tmp_path / "nothing-here.db"
    r = run(*args, "--db", str(db))
    assert r.exit_code == 1, r.output
    assert "is not an initialised hub store (no such file)" in r.output and "scanhub hub init" in r.output
    assert list(tmp_path.iterdir()) == []          # no hub.db, no -wal, no -shm


def test_a_change_to_a_missing_store_creates_nothing_either(tmp_path):
    db = tmp_path / "nothing-here.db"
    r = run("staff", "add", "1009", "--name", "x", "--site", "100", "--db", str(db))
    assert r.exit_code == 1 and list(tmp_path.iterdir()) == []


def test_a_store_made_by_an_old_scanhub_is_migrated(tmp_path):
    """A real store of an older scanhub (its SQL dump, tests/data/): refused, then migrated, then
    used by the commands of this one."""
    import sqlite3
    from pathlib import Path
    dump = (Path(__file__).parent / "data" / "hub-store-5f7b12b.sql").read_text(encoding="utf-8")
    db = str(tmp_path / "old.db")
    con = sqlite3.connect(db)
    con.executescript(dump)
    con.execute("INSERT INTO scanevent (id, station, epoch, seq, kind, waybill, site, operator, edge_ms, event_ms, "
                "clock, received_ms) VALUES ('s-1', 'st-100-1', '', 1, 'receive', '70000000000017', '100', '1002', "
                "1795600000000, 1795600000000, 'trusted', 1795600000000)")
    con.commit()
    con.close()
    r = run("hub", "stations", "--db", db)
    assert r.exit_code == 1 and f"schema version 1, this scanhub uses {V}" in r.output
    # it can be backed up before the upgrade, as the docs say to
    r = run("hub", "backup", "--db", db, "--out", str(tmp_path / "before-migrate.db"))
    assert r.exit_code == 0, r.output
    r = run("hub", "migrate", "--db", db)
    assert r.exit_code == 0, r.output
    assert "dirtywaybill: created" in r.output and "basic_data_change: created" in r.output
    assert run("hub", "check", "--db", db).exit_code == 0
    r = run("track", "70000000000017", "--db", db, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["events"][0]["operator"] == "1002"
    r = run("staff", "set", "1001", "--phone", "13800000000", "--db", db)
    assert r.exit_code == 0, r.output
    r = run("hub", "stations", "--db", db, "--json")
    assert [s["station"] for s in json.loads(r.output)] == ["st-100-1", "st-200-1", "st-900-1"]


def test_a_step_that_fails_leaves_the_store_as_it_was(store_url, monkeypatch):
    """Each step is one transaction: a failure half-way (here after its new tables are made)
    leaves version 1 and no half-made tables; running migrate again completes it."""
    from hub.schema import connect
    from hub.store import versions
    make_version_1(store_url)
    real = versions.MIGRATIONS[1]

    def half(db, tables, fills):
        real[1](db, tables, fills)
        raise versions.StoreVersionError("the disk went away")

    monkeypatch.setitem(versions.MIGRATIONS, 1, (real[0], half))
    r = CliRunner().invoke(cli.main, ["hub", "migrate", "--db", store_url])
    assert r.exit_code == 1 and "the disk went away" in r.output
    db = connect(store_url, check=False)
    assert versions.store_version() == 1 and not db.table_exists("basic_data_change")
    assert "signer" not in columns(store_url)
    monkeypatch.setitem(versions.MIGRATIONS, 1, real)
    assert run("hub", "migrate", "--db", store_url).exit_code == 0
    connect(store_url)
    assert versions.store_version() == V


def test_version_3_gives_sites_their_area_code(store_url):
    """A version-2 store (no site.area_code): refused, migrated, and the area codes of a network
    file then load."""
    from hub.schema import connect
    from hub.store.db import database
    sample_store(store_url)
    db = database.obj
    db.execute_sql('ALTER TABLE "site" DROP COLUMN "area_code"')     # SQLite 3.35+ and PostgreSQL
    db.execute_sql("UPDATE meta SET value = '2' WHERE key = 'schema'")
    database.close()
    r = run("site", "list", "--db", store_url)
    assert r.exit_code == 1 and f"schema version 2, this scanhub uses {V}" in r.output
    r = run("hub", "migrate", "--db", store_url, "--json")
    assert r.exit_code == 0, r.output
    steps = json.loads(r.output)["steps"]
    assert steps[0]["from"] == 2 and "site.area_code: added" in steps[0]["changes"]
    connect(store_url)
    from hub.network import tables as m
    m.Site.update(area_code="0571").where(m.Site.code == "100").execute()
    assert m.Site.get_by_id("100").area_code == "0571" and m.Site.select().count() > 1


def test_version_4_gives_scans_their_bag_problem_and_chain_columns(store_url):
    """A version-3 store (no sign_type, reason, bag, seal or chain on scans, no reason-code and
    problem-resolution tables): refused, migrated, and its old scans keep working."""
    from hub.schema import connect
    from hub.store import versions
    from hub.store.db import database
    sample_store(store_url)
    db = database.obj
    if not isinstance(db, peewee.PostgresqlDatabase):
        for (index,) in db.execute_sql("SELECT name FROM sqlite_master WHERE tbl_name = 'scanevent' "
                                       "AND type = 'index' AND sql LIKE '%bag%'").fetchall():
            db.execute_sql(f'DROP INDEX "{index}"')
    for col in ("sign_type", "reason", "bag", "seal", "chain"):
        db.execute_sql(f'ALTER TABLE "scanevent" DROP COLUMN "{col}"')
    db.execute_sql('DROP TABLE "reason_code"')
    db.execute_sql('DROP TABLE "problem_resolution"')
    db.execute_sql("INSERT INTO scanevent (id, station, epoch, seq, kind, waybill, site, operator, edge_ms, event_ms, "
                   "clock, received_ms) VALUES ('s-1', 'st-100-1', '', 1, 'problem', '70000000000017', '100', "
                   "'1002', 1, 1, 'trusted', 1)")
    db.execute_sql("UPDATE meta SET value = '3' WHERE key = 'schema'")
    database.close()
    r = run("problems", "open", "--db", store_url)
    assert r.exit_code == 1 and f"schema version 3, this scanhub uses {V}" in r.output
    r = run("hub", "migrate", "--db", store_url, "--json")
    assert r.exit_code == 0, r.output
    step = [s for s in json.loads(r.output)["steps"] if s["from"] == 3][0]
    assert {"reason_code: created", "problem_resolution: created", "scanevent.bag: added", "scanevent.seal: added",
            "scanevent.reason: added", "scanevent.sign_type: added", "scanevent.chain: added"} <= set(step["changes"])
    connect(store_url)
    assert versions.store_version() == V
    r = run("problems", "open", "--db", store_url, "--json", "--as-of", str(3_600_001))
    assert r.exit_code == 0 and [(p["waybill"], p["reason"], p["age_h"]) for p in json.loads(r.output)] == [
        ("70000000000017", None, 1.0)]
    g = json.loads(run("hub", "gaps", "--db", store_url, "--json").output)
    assert [(x["station"], x["chained"], x["altered"]) for x in g if x["station"] == "st-100-1"] == [
        ("st-100-1", False, [])]
