"""The output options every hub command shares: ``--format`` with ``--json`` as its alias, and
``--utc``.  Light on purpose (click and the renderer's format names only), so that command
modules which do not always open the store, like ``scanhub gun``, can use them.
"""
from __future__ import annotations

import functools

import click

from hub.cli.render import FORMATS

_UTC_KEY = "scanhub.utc"


def _set_utc(ctx, param, value):
    if value:
        ctx.meta[_UTC_KEY] = True
    return value


utc_option = click.option("--utc", is_flag=True, expose_value=False, callback=_set_utc, is_eager=True,
                          help="Print times in UTC, and read the times you type as UTC "
                               "(default: the network's zone, from its network file).")


def output_option(formats=FORMATS, default: str = "table", aliases: tuple[str, ...] = (),
                  help_text: str | None = None):
    """``--format`` (one of ``formats``) and ``--json``, its alias; ``aliases``: older flags
    (``csv``, ``html``) kept as aliases of their format.  The command gets ``fmt``."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, fmt, as_json, **kwargs):
            chosen = ["json"] if as_json else []
            for a in aliases:
                if kwargs.pop(f"as_{a}"):
                    chosen.append(a)
            if len(chosen) > 1 or (chosen and fmt not in (default, chosen[0])):
                raise click.UsageError("choose one output format: --format, --json"
                                       + "".join(f", --{a}" for a in aliases))
            return fn(*args, fmt=chosen[0] if chosen else fmt, **kwargs)
        for a in reversed(aliases):
            wrapper = click.option(f"--{a}", f"as_{a}", is_flag=True, help=f"Same as --format {a}.")(wrapper)
        wrapper = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(wrapper)
        wrapper = click.option(
            "--format", "fmt", type=click.Choice(formats), default=default, show_default=True,
            help=help_text or ("table (terminal), csv, json, html (printable) or pdf (printable; "
                               "redirect it to a file: --format pdf > report.pdf)."
                               if "pdf" in formats else "How to print the result."))(wrapper)
        return wrapper
    return deco


format_option = output_option()
json_option = output_option(("text", "json"), "text",
                            help_text="text (for people) or json (for scripts).")


