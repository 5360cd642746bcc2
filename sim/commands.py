"""``scanhub sim …``: simulated devices and networks for trying things without hardware."""
from __future__ import annotations

import click

from cli import LazyGroup

SIM_COMMANDS = {
    "scale": "sim.scale_commands:scale",
    "scanner": "sim.scanner_commands:scanner",
    "gun": "sim.gun_commands:gun",
    "e1": "sim.e1_commands:e1",
    "ivr": "sim.ivr_commands:ivr",
}


@click.group(cls=LazyGroup, lazy=SIM_COMMANDS)
def sim():
    """Simulated scales, guns and E1 spans that speak the exact wire bytes over pseudo-terminals.

    \b
    Examples:
      scanhub sim scale -p toledo-continuous --weight 1250 --link /tmp/scale
      scanhub sim scanner --link /tmp/gun
      scanhub sim gun run --dir /tmp/gun1 --id G-100-1
      scanhub sim e1 --calls 100
      scanhub sim ivr --out call.wav          (callers walk the sample IVR while parcels move)
    Each prints the path to open with the real tools (`scanhub scale read`, `scanhub scanner
    listen`, `scanhub gun flash`); `scanhub sim COMMAND --help` explains its own commands.
    """
