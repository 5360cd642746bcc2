"""The network file: re-importing it changes nothing, names are checked, the hub's names are its own."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

import cli
from conftest import SAMPLE


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_importing_the_same_file_twice_keeps_the_data_version(tmp_path):
    db = str(tmp_path / "hub.db")
    assert run("hub", "init", "--db", db).exit_code == 0
    assert run("hub", "import", SAMPLE, "--db", db).exit_code == 0
    from hub.network.station_config import site_slice
    from hub.schema import connect
    from hub.store.db import database
    from hub.store.meta import get_meta
    connect(db)
    v1, slice1 = get_meta("data_version"), site_slice("100")
    database.close()
    assert run("hub", "import", SAMPLE, "--db", db).exit_code == 0
    connect(db)
    try:
        assert get_meta("data_version") == v1
        assert site_slice("100")["version"] == slice1["version"]
        assert site_slice("100")["gun_users"] == slice1["gun_users"]
    finally:
        database.close()


def test_a_changed_pin_still_changes_the_slice(tmp_path):
    from hub.network.file import check_network, load_network
    raw = yaml.safe_load(open(SAMPLE, encoding="utf-8"))
    a = check_network(raw)
    raw["gun_users"][0]["pin"] = "987654"
    b = check_network(raw)
    assert a["gun_users"][0]["pin_hash"] != b["gun_users"][0]["pin_hash"]
    assert load_network(SAMPLE)["gun_users"] == a["gun_users"]


@pytest.mark.parametrize("name", [{"name": "X"}, ["X"], True])
def test_the_network_name_must_be_text(name):
    from hub.network.file import NetworkError, check_network
    raw = yaml.safe_load(open(SAMPLE, encoding="utf-8"))
    raw["network"] = name
    with pytest.raises(NetworkError, match="network's name must be text"):
        check_network(raw)


@pytest.mark.parametrize("sid", ["scanhub-hub", "scanhub-hub-2"])
def test_the_hubs_own_names_are_refused_for_stations(sid):
    from hub.network.file import NetworkError, check_network
    raw = yaml.safe_load(open(SAMPLE, encoding="utf-8"))
    raw["stations"].append({"id": sid, "site": raw["stations"][0]["site"]})
    with pytest.raises(NetworkError, match="reserved for the hub"):
        check_network(raw)


def test_credentials_never_hand_the_hubs_password_to_a_station(tmp_path):
    from hub.network.credentials import CredentialsError, generate
    with pytest.raises(CredentialsError, match="reserved for the hub"):
        generate([{"id": "scanhub-hub", "site": "100"}], str(tmp_path / "creds"))
