"""scanhub command line: the root group.

Each command group lives beside the code it drives (``hub/cli/``, ``edge/commands.py`` …) and is
imported only when it is used, so ``scanhub edge run`` on a Raspberry Pi never loads the hub's
reporting code.  A command module that fails to import is an error, never a missing command.

Errors are caught once, here: an exception whose class derives from one of the packages' root
errors (``USER_ERRORS``) becomes one clear line and exit status 1; anything else is a bug and
shows its traceback.
"""
from __future__ import annotations

import importlib
import sys

import click

# command name -> "module:attribute"
COMMANDS = {
    "hub": "hub.cli.admin:hub",
    "track": "hub.cli.admin:track",
    "edge": "edge.commands:edge",
    "demo": "sim.demo:demo_command",
    "sim": "sim.commands:sim",
    "devices": "drivers.listing:devices",
    "scale": "drivers.scale.commands:scale",
    "scanner": "drivers.scanner.commands:scanner",
    "gun": "hub.cli.gun:gun",
    "e1": "drivers.e1_card.commands:e1",
    "monitor": "hub.cli.monitor:monitor",
    "forecast": "hub.cli.forecast:forecast",
    "account": "hub.cli.account:account",
    "report": "hub.cli.report:report",
    "orders": "hub.cli.orders:orders",
    "config": "hub.cli.settings:config",
    "site": "hub.cli.basic:site",
    "staff": "hub.cli.basic:staff",
    "shift": "hub.cli.basic:shift",
    "rule": "hub.cli.basic:rule",
    "print": "printing.commands:print_group",
    "pbx": "hub.cli.pbx:pbx",
    "call": "hub.cli.call:call",
    "cc": "hub.cli.cc:cc",
    "ivr": "hub.cli.ivr:ivr",
    "waybill": "hub.cli.waybill:waybill",
    "quote": "hub.cli.quote:quote",
    "web": "hub.cli.web:web",
    "kb": "hub.cli.kb:kb",
    "sms": "hub.cli.sms:sms",
    "problems": "hub.cli.problems:problems",
    "pod": "hub.cli.pod:pod",
    "crm": "hub.cli.crm:crm",
    "workorder": "hub.cli.workorder:workorder",
    "mail": "hub.cli.mail:mail",
    "pickup": "hub.cli.pickup:pickup",
}


# The root error of each package: what a user can cause (bad input, an unusable environment).
USER_ERRORS = (
    "contract.errors:ContractError",
    "hub.errors:HubError",
    "edge.errors:EdgeError",
    "firmware_images.errors:GunImageError",
    "drivers.scanner.errors:ScannerError",
    "drivers.scale.base:ScaleError",
    "drivers.e1_card.errors:E1Error",
    "drivers.port:PortError",
    "drivers.gsm_modem.errors:GsmError",
    "labels.codes:LabelError",
)


def is_user_error(exc: BaseException) -> bool:
    """True when ``exc`` derives from a package's root error.  Only loaded modules are looked at:
    an error class whose module was never imported cannot have been raised."""
    for target in USER_ERRORS:
        module, name = target.split(":")
        mod = sys.modules.get(module)
        if mod is not None and isinstance(exc, getattr(mod, name)):
            return True
    return False


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        target = self.lazy.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


class RootGroup(LazyGroup):
    """The ``scanhub`` group: turns the packages' errors into one line (see ``USER_ERRORS``)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except Exception as e:
            if is_user_error(e):
                raise click.ClickException(str(e)) from e
            raise


@click.group(cls=RootGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scanhub")
def main():
    """scanhub: scan stations, hub and device tools for an express-parcel network.

    \b
    Typical flow:
      scanhub hub init --db hub.db                      create the hub's store
      scanhub hub import sim/networks/sample.yaml       load sites, staff, shifts, rules
      scanhub hub run                                   run the hub (starts its own broker)
      scanhub edge run --config station.yaml            run a scan station
      scanhub track WAYBILL                             a parcel's history
      scanhub demo                                      the whole pipeline, simulated

    Layers and packages: docs/architecture.md; the station-hub contract: docs/protocol.md.
    """


if __name__ == "__main__":
    main()
