"""scanhub command line: the root group.

Each command group lives beside the code it drives (``hub/commands.py``, ``edge/commands.py`` …)
and is imported only when it is used, so ``scanhub edge run`` on a Raspberry Pi never loads the
hub's reporting code.  Errors from the library are turned into one clear line by the groups
(``click.ClickException``); a traceback means a bug.
"""
from __future__ import annotations

import importlib
import importlib.util

import click

# command name -> "module:attribute"
COMMANDS = {
    "hub": "hub.commands:hub",
    "track": "hub.commands:track",
    "edge": "edge.commands:edge",
    "demo": "sim.demo:demo_command",
    "sim": "sim.commands:sim",
    "devices": "drivers.listing:devices",
    "scale": "drivers.scale.commands:scale",
    "scanner": "drivers.scanner.commands:scanner",
    "gun": "firmware_images.commands:gun",
    "e1": "drivers.e1_card.commands:e1",
    "monitor": "hub.ops_commands:monitor",
    "forecast": "hub.ops_commands:forecast",
    "account": "hub.ops_commands:account",
    "report": "hub.ops_commands:report",
    "orders": "hub.ops_commands:orders",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def _available(self) -> dict[str, str]:
        found = {}
        for name, target in self.lazy.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module) is not None:
                found[name] = target
        return found

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        target = self._available().get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except AttributeError:
            return None


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scanhub")
def main():
    """scanhub: scan stations, hub and device tools for an express-parcel network.

    \b
    Typical flow:
      scanhub hub init --db hub.db            create the hub's store
      scanhub hub import docs/network.yaml    load sites, staff, shifts, rules
      scanhub hub run                         run the hub (starts its own broker)
      scanhub edge run --config station.yaml  run a scan station
      scanhub track WAYBILL                   a parcel's history
      scanhub demo                            the whole pipeline, simulated
    """


if __name__ == "__main__":
    main()
