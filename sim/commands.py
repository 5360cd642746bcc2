"""``scanhub sim …``: simulated devices and networks for trying things without hardware."""
from __future__ import annotations

import click

from cli import LazyGroup

SIM_COMMANDS = {
    "scale": "sim.scale_commands:scale",
    "scanner": "sim.scanner_commands:scanner",
    "gun": "sim.gun_commands:gun",
    "e1": "sim.e1_commands:e1",
}


@click.group(cls=LazyGroup, lazy=SIM_COMMANDS)
def sim():
    """Simulated scales, guns and E1 spans that speak the exact wire bytes over pseudo-terminals."""
