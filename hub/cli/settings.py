"""``scanhub config show``: the settings in force and where each came from."""
from __future__ import annotations

import click

from hub.cli.common import emit, format_option


@click.group()
def config():
    """The hub's settings file (scanhub.toml) and SCANHUB_* environment variables.

    \b
    Examples:
      scanhub config show
      scanhub config show --json
      SCANHUB_CONFIG=/etc/scanhub/scanhub.toml scanhub config show
    """


@config.command()
@format_option
def show(fmt):
    """Print every setting in force, where its value came from, and which file was read.

    The file is the first of: the file named by SCANHUB_CONFIG, ./scanhub.toml,
    ~/.config/scanhub/scanhub.toml.  An environment variable overrides the file; a command's own
    flag (--db, --broker) overrides both for that command.  Passwords are shown as ***.

    \b
    Examples:
      scanhub config show
      SCANHUB_DB=/srv/scanhub/hub.db scanhub config show --json
    """
    import os

    from hub.settings import BY_NAME, CONFIG_ENV, resolve, search_paths
    path, values = resolve()
    searched = [os.environ[CONFIG_ENV]] if os.environ.get(CONFIG_ENV) else [str(p) for p in search_paths()]
    rows = [{"setting": v.name, "value": v.shown(), "source": v.source, "env": BY_NAME[v.name].env}
            for v in values.values()]
    if fmt == "json":
        import json
        click.echo(json.dumps({"file": str(path) if path else None,
                               "searched": searched, "settings": rows},
                              ensure_ascii=False, indent=1))
        return
    click.echo(f"settings file: {path}" if path else
               "settings file: none (looked for " + ", ".join(searched) + ")")
    emit(rows, fmt, "settings")
