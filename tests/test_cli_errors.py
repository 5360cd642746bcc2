"""The CLI catches the packages' errors once: one line for a user's mistake, a traceback for a bug,
and a command module that fails to import is an error, never a command missing from --help."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

import cli


def test_a_hub_error_is_one_line(hub_store):
    r = CliRunner().invoke(cli.main, ["monitor", "not-arrived", "--site", "NOPE", "--db", hub_store])
    assert r.exit_code == 1
    assert r.output.strip() == "Error: unknown site NOPE"


def test_an_unopenable_store_is_one_line(tmp_path):
    r = CliRunner().invoke(cli.main, ["report", "scans", "--site", "100", "--kind", "receive",
                                      "--db", str(tmp_path / "missing" / "hub.db")])
    assert r.exit_code == 1 and r.output.startswith("Error: folder") and "Traceback" not in r.output


def test_every_package_root_is_a_user_error():
    from contract.errors import PayloadError
    from drivers.e1_card.errors import E1Error
    from drivers.scale.base import ScaleError
    from drivers.scanner.errors import ScannerError
    from edge.errors import EdgeError
    from firmware_images.errors import GunImageError
    from hub.errors import HubError
    for e in (PayloadError("x"), E1Error("x"), ScaleError("x"), ScannerError("x"), EdgeError("x"),
              GunImageError("x"), HubError("x")):
        assert cli.is_user_error(e), e
    assert not cli.is_user_error(KeyError("a bug"))


def test_a_bug_is_not_dressed_up(monkeypatch):
    @click.command("boom")
    def boom():
        raise KeyError("a bug")
    monkeypatch.setitem(cli.main.commands, "boom", boom)
    r = CliRunner().invoke(cli.main, ["boom"])
    assert r.exit_code == 1 and isinstance(r.exception, KeyError)


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "broken", "hub.cli.no_such_module:group")
    assert "broken" in cli.main.list_commands(click.Context(cli.main))
    with pytest.raises(ModuleNotFoundError):
        cli.main.get_command(click.Context(cli.main), "broken")
