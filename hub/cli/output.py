"""``--format`` and ``--json`` for the basic-data and settings commands.

The shared ``format_option`` (``hub/cli/common.py``) gives ``--format``; where it does not bring
a ``--json`` alias of its own, one is added here.  The command takes ``fmt`` and
``as_json=False`` and prints ``"json" if as_json else fmt``.
"""
from __future__ import annotations

import click

from hub.cli.common import format_option


def format_and_json(fn):
    fn = format_option(fn)
    if not any(getattr(p, "name", None) == "as_json" for p in getattr(fn, "__click_params__", [])):
        fn = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(fn)
    return fn
