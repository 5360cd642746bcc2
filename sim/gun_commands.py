"""``scanhub sim gun …``: a simulated wireless gun in its cradle, on a pseudo-terminal."""
from __future__ import annotations

import signal
import threading

import click


@click.group()
def gun():
    """A simulated wireless gun, to try the whole gun workflow without hardware: run it on a pty,
    flash it, log in with a PIN, scan, and upload its scans to a station.

    The gun's state (identity, image slots, logged-in user, stored scans) lives in its --dir, so
    each command below acts on the same gun.

    \b
    Examples:
      scanhub sim gun run --dir /tmp/gun1 --id G-100-1      prints /dev/pts/N; Ctrl-C stops it
      scanhub gun flash /dev/pts/N --site 100               (in another terminal)
      scanhub sim gun login --dir /tmp/gun1 1002 --pin 2345
      scanhub sim gun scan --dir /tmp/gun1 receive 70000000000016
      scanhub sim gun scan --dir /tmp/gun1 dispatch 70000000000016 --dest 200
      scanhub sim gun scans --dir /tmp/gun1
      scanhub sim gun upload --dir /tmp/gun1 --link /tmp/cradle   a station reads /tmp/cradle
    """


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
    """Run a simulated gun on a new pty and print the pty's path; Ctrl-C stops it.

    Starting it is the gun booting: a logged-in user is logged out; stored scans stay.

    \b
    Examples:
      scanhub sim gun run --dir /tmp/gun1 --id G-100-1
      scanhub sim gun run --dir /tmp/gun1 --baud 115200     as slow as a real cradle
    """
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
    from sim.gun_operator import reboot
    reboot(directory)
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


# ---------------------------------------------------------------- using the gun

_dir_opt = click.option("--dir", "directory", required=True, type=click.Path(file_okay=False),
                        help="The simulated gun's directory (as given to `sim gun run`).")


def _operator(directory):
    from sim.gun_operator import GunOperator, OperatorError
    try:
        return GunOperator(directory)
    except OperatorError as e:
        raise click.ClickException(str(e)) from None


def _refusal(fn):
    """Run ``fn``; the gun's refusals become one line (exit 1)."""
    from sim.gun_app import GunAppError
    from sim.gun_operator import OperatorError
    try:
        return fn()
    except (GunAppError, OperatorError) as e:
        raise click.ClickException(f"refused: {e}") from None


@gun.command("login")
@_dir_opt
@click.argument("login")
@click.option("--pin", prompt=True, hide_input=True, help="The user's PIN (asked for when not given).")
def login_command(directory, login, pin):
    """Log LOGIN in on the gun with their PIN, against the PIN hashes in the flashed image.

    Five wrong PINs in a row lock the login until the gun restarts (`sim gun run` again).

    \b
    Example:
      scanhub sim gun login --dir /tmp/gun1 1002 --pin 2345
    """
    op = _operator(directory)
    user = _refusal(lambda: op.login(login, pin))
    click.echo(f"logged in {user['login']} (staff {user['staff']}) at site {op.app.site}; "
               f"may scan: {', '.join(user['kinds']) or 'nothing'}")


@gun.command("logout")
@_dir_opt
def logout_command(directory):
    """Log the current user out of the gun."""
    _operator(directory).logout()
    click.echo("logged out")


@gun.command("scan")
@_dir_opt
@click.argument("kind", type=click.Choice(["receive", "dispatch", "arrive", "deliver", "sign", "problem", "hold",
                                          "bag_build", "bag_open", "load", "unload"]))
@click.argument("waybill")
@click.option("--dest", help="Destination site (dispatch: the gun finds the next stop from it).")
@click.option("--shift", help="Line-haul shift (dispatch).")
@click.option("--next-site", help="Next site (dispatch), instead of --dest.")
@click.option("--prev-site", help="Previous site (arrive).")
@click.option("--weight-g", type=int, help="Weight in whole grams (arrive).")
@click.option("--courier", help="Courier's staff code (required for deliver).")
@click.option("--signer", help="Signer's name (required for sign).")
@click.option("--sign-type", help="How it was signed for (sign): in_person, guard_room, mailroom, …")
@click.option("--reason", help="Reason code (problem, hold).")
@click.option("--bag", help="Bag label (bag_build, bag_open); a load or unload scans the bag label as WAYBILL.")
@click.option("--seal", help="Seal number of the truck or cage (load, unload).")
def scan_command(directory, kind, waybill, dest, shift, next_site, prev_site, weight_g, courier, signer,
                 sign_type, reason, bag, seal):
    """Scan WAYBILL as KIND on the gun, as the logged-in user; the gun checks it the way it does
    in the field (the user's allowed kinds, the waybill rules, sites, shifts, blocked sites) and
    stores it for the next upload, or says why not.

    \b
    Examples:
      scanhub sim gun scan --dir /tmp/gun1 receive 70000000000016
      scanhub sim gun scan --dir /tmp/gun1 dispatch 70000000000016 --dest 200
      scanhub sim gun scan --dir /tmp/gun1 deliver 70000000000016 --courier 1001
      scanhub sim gun scan --dir /tmp/gun1 bag_build 70000000000016 --bag B100-0001
      scanhub sim gun scan --dir /tmp/gun1 load B100-0001 --dest 200 --seal S-42
    """
    op = _operator(directory)
    rec = _refusal(lambda: op.scan(kind, waybill, dest=dest, shift=shift, next_site=next_site,
                                   prev_site=prev_site, weight_g=weight_g, courier=courier, signer=signer,
                                   sign_type=sign_type, reason=reason, bag=bag, seal=seal))
    extra = f" to next site {rec['next_site']}" if rec.get("next_site") else ""
    click.echo(f"stored #{rec['seq']}: {kind} {waybill}{extra} ({len(op.app.records)} waiting for upload)")


@gun.command("scans")
@_dir_opt
@click.option("--json", "as_json", is_flag=True, help="Print the stored records as JSON.")
def scans_command(directory, as_json):
    """The scans stored on the gun, waiting for an upload."""
    import json
    op = _operator(directory)
    if as_json:
        click.echo(json.dumps(op.app.records))
        return
    if not op.app.records:
        click.echo("no scans waiting")
        return
    for r in op.app.records:
        click.echo(f"#{r['seq']:<5} {r['kind']:<9} {r['waybill']}  by {r['operator']}")
    click.echo(f"{len(op.app.records)} scan(s) waiting for upload")


@gun.command("upload")
@_dir_opt
@click.option("--link", required=True, type=click.Path(dir_okay=False),
              help="Path of the cradle's serial line (a symlink to a new pty) for the station to read: "
                   "put it in the station file as {type: scanner, protocol: batch, port: LINK}.")
@click.option("--wait", default=30.0, show_default=True,
              help="Seconds to keep sending (every --every seconds) until the station acknowledges.")
@click.option("--every", default=2.0, show_default=True, help="Seconds between sends of the upload.")
def upload_command(directory, link, wait, every):
    """Put the gun in its cradle: send its stored scans to the station reading LINK, as an SHB1
    batch upload, again and again until the station acknowledges it; acknowledged scans leave
    the gun.  Without an acknowledgement the scans stay on the gun (exit 1).

    \b
    Example (station file: devices: [{type: scanner, protocol: batch, port: /tmp/cradle}]):
      scanhub sim gun upload --dir /tmp/gun1 --link /tmp/cradle
    """
    op = _operator(directory)
    n = len(op.app.records)
    if not n:
        click.echo("no scans waiting: nothing to upload")
        return
    from sim.gun_operator import OperatorError
    try:
        acked = op.upload(link, wait_s=wait, every_s=every,
                          on_ready=lambda path: click.echo(f"cradle on {path}: sending {n} scan(s)", err=True))
    except OperatorError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"the station acknowledged {acked} scan(s); {len(op.app.records)} left on the gun")
