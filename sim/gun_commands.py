"""``scanhub sim gun …``: a simulated wireless gun in its cradle, on a pseudo-terminal."""
from __future__ import annotations

import signal
import threading

import click


@click.group()
def gun():
    """A simulated wireless gun: flash it with `scanhub gun flash PTY IMAGE`, read it back with
    `scanhub gun inspect PTY`."""


@gun.command("run")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False),
              help="The gun's flash memory (slots, active pointer, pending transfer); kept across runs.")
@click.option("--id", "gun_id", help="Gun id (kept in the directory; default: generated once).")
@click.option("--model", default="SG-200", show_default=True, help="Model name the gun reports.")
@click.option("--pubkey", help="Provision the gun with this public key (64 hex digits).")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False),
              help="Provision the gun with this key directory's public key (default key directory "
                   "when neither --pubkey nor a provisioned key exists).")
@click.option("--baud", type=int, default=None, help="Pace the line like a UART at this rate (8N1).")
@click.option("--max-chunk", default=4096, show_default=True, help="Largest chunk the gun accepts, bytes.")
def run(directory, gun_id, model, pubkey, keys_dir, baud, max_chunk):
    """Run a simulated gun on a new pty and print the pty's path; Ctrl-C stops it."""
    from pathlib import Path

    from firmware_images import keys
    from firmware_images.errors import GunImageError
    from sim.gun_link import SimulatedGun

    provisioned = (Path(directory) / "identity.json").exists() and '"public_key"' in (
        Path(directory) / "identity.json").read_text()
    if not pubkey and (keys_dir or not provisioned):
        try:
            pubkey = keys.public_raw(keys.load_public(Path(keys_dir) if keys_dir else keys.default_key_dir())).hex()
        except GunImageError as e:
            raise click.ClickException(f"cannot provision the gun: {e}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())    # before the pty is announced: a caller
    try:                                                      # may stop us as soon as it reads it
        sim = SimulatedGun(directory, gun_id=gun_id, model=model, public_key_hex=pubkey, baud=baud,
                           max_chunk=max_chunk).start()
    except GunImageError as e:
        raise click.ClickException(str(e)) from None
    info = sim.storage.describe()
    click.echo(sim.port)
    click.echo(f"gun {info['gun_id']} ({info['model']}) runs {info['image_version'] or 'no image'}"
               + (f" for site {info['image_site']}" if info['image_site'] else "")
               + (f"; {info['boot_note']}" if info['boot_note'] else ""), err=True)
    try:
        while not stop.is_set() and not sim.dead.is_set():
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
