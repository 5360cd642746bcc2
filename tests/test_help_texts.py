"""Help texts of every command: every option explained,
examples in every group, no internal references."""
from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from cli import main

GROUPS = sorted(__import__("cli").COMMANDS)        # every command group
INTERNAL = re.compile(r"\b(seed|step|task|phase|ticket)\s+\d+(\.\d+)+|§|\bTODO\b|\bFIXME\b", re.I)


def walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from walk(cmd.get_command(ctx, name), path + [name])


def commands():
    ctx = click.Context(main)
    for name in GROUPS:
        yield from walk(main.get_command(ctx, name), [name])


@pytest.mark.parametrize("path,cmd", [(" ".join(p), c) for p, c in commands()], ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_is_explained_and_nothing_internal(path, cmd):
    for p in cmd.params:
        if isinstance(p, click.Option) and p.name != "help":
            assert p.help and p.help.strip(), f"scanhub {path}: option {p.opts[0]} has no help"
    res = CliRunner().invoke(main, path.split() + ["--help"])
    assert res.exit_code == 0, res.output
    assert not INTERNAL.search(res.output), f"scanhub {path}: {INTERNAL.search(res.output).group(0)!r}"


@pytest.mark.parametrize("name", GROUPS)
def test_every_group_shows_examples(name):
    res = CliRunner().invoke(main, [name, "--help"])
    assert res.exit_code == 0, res.output
    assert re.search(r"Examples?:", res.output) and "scanhub " in res.output, res.output
