"""``scanhub gun …``: build, sign, flash, inspect and verify gun configuration images; the fleet."""
from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import click

from firmware_images import container, keys
from firmware_images.errors import GunImageError, ImageFormatError, LinkLost
from hub.cli.output import format_option, utc_option


def _db_default() -> str:
    from hub.settings import value

    return value("db")


def _connect(db: str):
    from hub.cli.common import open_store

    return open_store(db)


def _key_dir(keys_dir: str | None) -> Path:
    return Path(keys_dir) if keys_dir else keys.default_key_dir()


def _public_key(keys_dir: str | None, pubkey: str | None):
    try:
        if pubkey:
            return keys.public_from_hex(pubkey)
        return keys.load_public(_key_dir(keys_dir))
    except GunImageError as e:
        raise click.ClickException(str(e)) from None


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + "Z"


def _print_info(info: container.ImageInfo) -> None:
    click.echo(f"image     {info.image_version}  (format {info.format_version}, {info.image_len} bytes)")
    click.echo(f"site      {info.site}   network {info.network or '-'}   data {info.data_version}")
    click.echo(f"built     {_when(info.build_ms)}   signed by key {info.key_id.hex()}")
    click.echo(f"digest    {info.digest.hex()}")
    click.echo(f"{'section':<14}{'rows':>9}{'stored':>10}{'raw':>10}  codec")
    for s in info.sections:
        click.echo(f"{s.name:<14}{s.rows:>9}{s.stored_len:>10}{s.raw_len:>10}  {container.CODECS[s.codec]}")


def _keys_opt(f):
    return click.option("--keys", "keys_dir", type=click.Path(file_okay=False),
                        help="Key directory (default $SCANHUB_KEYS or ~/.config/scanhub/keys).")(f)


@click.group()
def gun():
    """Gun configuration images: build and sign them from the hub's data, flash them into
    wireless guns over their cradle's serial line, inspect and verify them, and see which guns
    run an outdated image.

    \b
    Examples:
      scanhub gun keys init; scanhub gun keys show     once per hub (provision guns with the key)
      scanhub gun build --site 100                     writes gun-100-VERSION.img
      scanhub gun flash /dev/ttyACM0 --site 100        flashes the newest gun-100-*.img here
      scanhub gun inspect /dev/ttyACM0                 what the gun in the cradle runs
      scanhub gun fleet --outdated                     guns that need a new image
    Without hardware: `scanhub sim gun run` starts a simulated gun on a pty.
    """


# ---------------------------------------------------------------- keys

@gun.group("keys")
def keys_group():
    """The hub's Ed25519 image-signing key pair."""


@keys_group.command("init")
@click.option("--dir", "keys_dir", type=click.Path(file_okay=False),
              help="Key directory (default $SCANHUB_KEYS or ~/.config/scanhub/keys).")
@click.option("--force", is_flag=True, help="Replace an existing key (guns must be re-provisioned).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: private_file, public_file, public_key, key_id.")
def keys_init(keys_dir, force, as_json):
    """Create the signing key pair and print the public key guns are provisioned with."""
    d = _key_dir(keys_dir)
    try:
        key = keys.init_keys(d, force=force)
    except (GunImageError, OSError) as e:
        raise click.ClickException(str(e)) from None
    raw = keys.public_raw(key)
    if as_json:
        click.echo(json.dumps({"private_file": str(d / keys.PRIVATE_FILE), "public_file": str(d / keys.PUBLIC_FILE),
                               "public_key": raw.hex(), "key_id": keys.key_id(raw).hex()}))
        return
    click.echo(f"created {d / keys.PRIVATE_FILE} (keep it on the hub) and {d / keys.PUBLIC_FILE}")
    click.echo(f"public key {raw.hex()}  (key id {keys.key_id(raw).hex()})")


@keys_group.command("show")
@click.option("--dir", "keys_dir", type=click.Path(file_okay=False),
              help="Key directory (default $SCANHUB_KEYS or ~/.config/scanhub/keys).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_show(keys_dir, as_json):
    """Print the public key (64 hex digits) that guns are provisioned with."""
    raw = keys.public_raw(_public_key(keys_dir, None))
    if as_json:
        click.echo(json.dumps({"public_key": raw.hex(), "key_id": keys.key_id(raw).hex()}))
    else:
        click.echo(raw.hex())


# ---------------------------------------------------------------- build / verify / inspect

@gun.command()
@click.option("--site", required=True, help="Site code whose guns get the image.")
@click.option("--out", type=click.Path(dir_okay=False), help="Image file (default gun-SITE-VERSION.img).")
@click.option("--db", default=_db_default, show_default="SCANHUB_DB, else db in scanhub.toml, else hub.db", help="Hub store URL or path.")
@_keys_opt
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def build(site, out, db, keys_dir, as_json):
    """Build and sign SITE's image from the hub's data; show what changed since its last image.

    The same data always gives the same bytes, so an unchanged rebuild is recognisable."""
    from hub.fleet.builder import build_site_image

    try:
        key = keys.load_private(_key_dir(keys_dir))
    except GunImageError as e:
        raise click.ClickException(str(e)) from None
    _connect(db)
    try:
        result = build_site_image(site, key)
    except GunImageError as e:
        raise click.ClickException(str(e)) from None
    path = Path(out or f"gun-{site}-{result.info.image_version}.img")
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(result.image)
        tmp.replace(path)
    except OSError as e:
        raise click.ClickException(f"cannot write {path}: {e.strerror}") from None
    if as_json:
        click.echo(json.dumps({"file": str(path), **result.info.summary(), "previous_version":
                               result.previous_version, "unchanged": result.unchanged,
                               "changes": result.changes}))
        return
    click.echo(f"wrote {path}")
    _print_info(result.info)
    if result.previous_version is None:
        click.echo("first image for this site")
    elif result.unchanged:
        click.echo(f"unchanged since the last image ({result.previous_version}): same bytes")
    elif not result.changes:
        click.echo(f"content unchanged since {result.previous_version}; only the version moved")
    else:
        click.echo(f"changes since {result.previous_version}:")
        for c in result.changes:
            click.echo(f"  {c['section']:<14} +{c['added']} -{c['removed']} ~{c['changed']}  "
                       + " ".join(c["examples"]))


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror}") from None


@gun.command()
@click.argument("image", type=click.Path(dir_okay=False))
@_keys_opt
@click.option("--pubkey", help="Verify with this public key (64 hex digits) instead of the key directory's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify(image, keys_dir, pubkey, as_json):
    """Check every byte of IMAGE and its signature; exits non-zero with the precise reason."""
    data = _read_file(image)
    public = _public_key(keys_dir, pubkey)
    try:
        loaded = container.read_image(data, public)
    except ImageFormatError as e:
        if as_json:
            click.echo(json.dumps({"ok": False, "reason": e.reason, "message": str(e)}))
        raise click.ClickException(f"{image}: REJECTED ({e.reason}): {e}") from None
    if as_json:
        click.echo(json.dumps({"ok": True, **loaded.info.summary()}))
    else:
        click.echo(f"{image}: OK  site {loaded.info.site}, version {loaded.info.image_version}, "
                   f"signature verified with key {keys.key_id(keys.public_raw(public)).hex()}")


def _open(port: str, baud: int):
    from firmware_images.flasher import open_port

    if "://" not in port and not os.path.exists(port):
        raise click.ClickException(f"{port}: no such serial port")
    try:
        return open_port(port, baud)
    except GunImageError as e:
        raise click.ClickException(str(e)) from None


def _is_port(target: str) -> bool:
    if "://" in target:
        return True
    try:
        return stat.S_ISCHR(os.stat(target).st_mode)
    except OSError:
        return False


@gun.command()
@click.argument("target")
@click.option("--baud", default=115_200, show_default=True, help="Baud rate of a serial port.")
@_keys_opt
@click.option("--db", default=None, help="Record a gun's read-back in this hub store (default: SCANHUB_DB, else db in scanhub.toml, else hub.db if it exists).")
@click.option("--save", type=click.Path(dir_okay=False), help="With a PORT: also write the read-back image here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inspect(target, baud, keys_dir, db, save, as_json):
    """Show what an image file, or the gun on serial PORT, holds.

    TARGET is an image file, a serial device (/dev/ttyACM0) or a pyserial URL (socket://host:port).
    For a gun, the active image is read back and checked, and the fleet record is updated."""
    if not _is_port(target):
        if not os.path.exists(target):
            raise click.ClickException(f"{target}: no such image file or serial port")
        data = _read_file(target)
        try:
            info = container.parse_image(data)
        except ImageFormatError as e:
            raise click.ClickException(f"{target}: not a valid image ({e.reason}): {e}") from None
        if as_json:
            click.echo(json.dumps(info.summary()))
        else:
            _print_info(info)
        return
    from firmware_images.flasher import GunLink

    port = _open(target, baud)
    try:
        link = GunLink(port)
        gun_info = link.hello()
        image = link.read_back() if gun_info.image_len else None
    except GunImageError as e:
        raise click.ClickException(f"{target}: {e}") from None
    finally:
        port.close()
    info = container.parse_image(image) if image else None
    if save and image:
        Path(save).write_bytes(image)
    _record(db, gun_info, "read-back", quiet=as_json)
    if as_json:
        click.echo(json.dumps({"gun": gun_info.to_json(), "image": info.summary() if info else None}))
        return
    click.echo(f"gun       {gun_info.gun_id}  model {gun_info.model}  firmware {gun_info.firmware}")
    click.echo(f"slot      {gun_info.active_slot or '-'}   free {gun_info.free_bytes} bytes   "
               f"trusts key {gun_info.key_id.hex() if gun_info.key_id else '(none: not provisioned)'}")
    if gun_info.pending_session:
        click.echo(f"pending   transfer at chunk {gun_info.pending_next} of {gun_info.pending_total} "
                   "(flash the same image again to resume)")
    if gun_info.boot_note:
        click.echo(f"note      {gun_info.boot_note}")
    if info:
        _print_info(info)
    else:
        click.echo("image     none")


def _record(db: str | None, gun_info, how: str, quiet: bool = False) -> None:
    """Update the fleet; a missing default store is a note, a bad explicit one an error."""
    from hub.store.db import StoreError
    from hub.schema import connect

    from hub.fleet import records as fleet

    url = db or _db_default()
    if db is None and not os.path.exists(url) and "://" not in url:
        if not quiet:
            click.echo(f"note: no hub store at {url}: gun not recorded in the fleet (use --db)", err=True)
        return
    try:
        connect(url)
        fleet.record_gun(gun_info, how)
    except StoreError as e:
        raise click.ClickException(str(e)) from None


# ---------------------------------------------------------------- flash

def _pick_image(images: tuple[str, ...], site: str | None, image_dir: str) -> tuple[str, bytes, container.ImageInfo, str]:
    """(path, bytes, info, note) of the image to flash: the one named, or the newest (by the
    build time in its header) of those named or of DIR/gun-SITE-*.img."""
    if not images:
        if site is None:
            raise click.ClickException("name an IMAGE, or give --site SITE to take that site's newest image")
        images = tuple(sorted(str(p) for p in Path(image_dir).glob(f"gun-{site}-*.img")))
        if not images:
            raise click.ClickException(f"no image gun-{site}-*.img in {image_dir}: "
                                       f"build one with `scanhub gun build --site {site}`")
    found = []
    for path in images:
        if not os.path.isfile(path):
            raise click.ClickException(f"{path}: no such image file")
        data = _read_file(path)
        try:
            info = container.parse_image(data)
        except ImageFormatError as e:
            raise click.ClickException(f"{path}: not a valid image ({e.reason}): {e}") from None
        found.append((path, data, info))
    if site is not None:
        mine = [f for f in found if f[2].site == site]
        if not mine:
            raise click.ClickException(f"none of the images is for site {site}")
        found = mine
    sites = sorted({f[2].site for f in found})
    if len(sites) > 1:
        raise click.ClickException(f"the images are for sites {', '.join(sites)}: "
                                   "name one, or give --site SITE")
    path, data, info = max(found, key=lambda f: (f[2].build_ms, f[0]))
    note = f"newest of {len(found)} images: {path} (built {_when(info.build_ms)})" if len(found) > 1 else ""
    return path, data, info, note


def _current_version(db: str | None, site: str) -> str | None:
    """The version of ``site``'s current image by the hub's data, or None when no hub store is at
    hand (or it does not know the site)."""
    from hub.store.db import StoreError
    from hub.schema import connect

    url = db or _db_default()
    if db is None and not os.path.exists(url) and "://" not in url:
        return None
    try:
        connect(url)
        from hub.network.station_config import site_slice
        return site_slice(site)["version"]
    except KeyError:
        return None
    except StoreError as e:
        raise click.ClickException(str(e)) from None


def _flash_warnings(gun_info, info: container.ImageInfo, image: str, current: str | None) -> list[str]:
    out = []
    if gun_info.image_site and gun_info.image_site != info.site:
        out.append(f"gun {gun_info.gun_id} is set up for site {gun_info.image_site}; {image} is for "
                   f"site {info.site}")
    if current is not None and info.image_version != current:
        out.append(f"{image} ({info.image_version}) is out of date: site {info.site}'s data now gives "
                   f"{current}; build a new one with `scanhub gun build --site {info.site}`")
    return out


@gun.command()
@click.argument("port")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--site", help="Flash this site's newest image: of the IMAGES named, or of DIR/gun-SITE-*.img "
                             "when none are named (newest by the build time inside the image).")
@click.option("--dir", "image_dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where --site looks for gun-SITE-*.img files.")
@click.option("--yes", "-y", is_flag=True,
              help="Do not ask before flashing an image of another site than the gun's, or an "
                   "out-of-date one (the warning is still printed).")
@click.option("--baud", default=115_200, show_default=True, help="Baud rate of the cradle's serial line.")
@click.option("--chunk", default=4096, show_default=True, help="Chunk size in bytes (the gun may ask for less).")
@click.option("--timeout", default=2.0, show_default=True, help="Seconds to wait for each answer.")
@click.option("--db", default=None, help="Hub store to check the image against and to record the gun in "
                                         "(default: SCANHUB_DB, else db in scanhub.toml, else hub.db if it exists).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (no progress bar).")
def flash(port, images, site, image_dir, yes, baud, chunk, timeout, db, as_json):
    """Flash an image into the gun on PORT and switch the gun to it.

    Name the IMAGE, or give --site to take that site's newest image (several IMAGES, as a shell
    pattern gives them, are fine: the newest is flashed).  Before anything is sent, an image of
    another site than the one the gun is set up for, or one older than the site's current data in
    the hub store, is shown as a warning and you are asked whether to go on (--yes: go on).

    The gun keeps its current image active until the new one has arrived whole and verified
    (checksums and signature).  If the transfer breaks off (the gun is taken out of its cradle,
    the cable is pulled), run the same command again: it resumes from the last chunk the gun
    acknowledged.  Sections the gun already holds are not sent again.

    \b
    Examples:
      scanhub gun flash /dev/ttyACM0 gun-100-3f2a9c1d4e7a0b3f.img
      scanhub gun flash /dev/ttyACM0 --site 100            newest gun-100-*.img here
      scanhub gun flash /dev/ttyACM0 gun-100-*.img --yes   no questions (scripts)
      scanhub gun flash socket://10.0.0.7:4001 --site 100 --dir /srv/images
    """
    image, data, info, note = _pick_image(images, site, image_dir)
    if note and not as_json:
        click.echo(note)
    current = _current_version(db, info.site)
    from firmware_images.flasher import GunLink

    ser = _open(port, baud)
    try:
        link = GunLink(ser, timeout=timeout)
        gun_info = link.hello()
        if not as_json:
            click.echo(f"gun {gun_info.gun_id} ({gun_info.model}, firmware {gun_info.firmware}) runs "
                       f"{gun_info.image_version or 'no image'}"
                       + (f" for site {gun_info.image_site}" if gun_info.image_site else ""))
        warnings = _flash_warnings(gun_info, info, image, current)
        for w in warnings:
            click.echo(f"warning: {w}", err=True)
        if warnings and not yes:
            click.confirm(f"flash {image} anyway?", abort=True, err=True)
        bar = None

        def progress(done, total):
            nonlocal bar
            if as_json:
                return
            if bar is None:
                bar = click.progressbar(length=total, label="flashing", show_pos=True, show_eta=True)
                bar.__enter__()
                bar.update(done)
            else:
                bar.update(done - bar.pos)

        try:
            result = link.flash(data, progress=progress, chunk_size=chunk)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    except LinkLost as e:
        raise click.ClickException(f"{port}: the gun went away during the flash (taken out of its "
                                   "cradle, or the cable pulled): put it back and run the flash "
                                   "again to resume") from None
    except GunImageError as e:
        raise click.ClickException(f"{port}: {e}") from None
    finally:
        ser.close()
    _record(db, result.gun, "flash", quiet=as_json)
    if as_json:
        click.echo(json.dumps({"gun": result.gun.to_json(), "chunks_sent": result.chunks_sent,
                               "chunks_total": result.chunks_total, "resumed_from": result.resumed_from,
                               "reused_sections": result.reused_sections, "bytes_sent": result.bytes_sent,
                               "retries": result.retries, "seconds": round(result.seconds, 3)}))
        return
    if result.resumed_from:
        click.echo(f"resumed at chunk {result.resumed_from} of {result.chunks_total}")
    if result.reused_sections:
        click.echo(f"reused from the gun's current image: {', '.join(result.reused_sections)}")
    click.echo(f"done: gun {result.gun.gun_id} now runs {result.gun.image_version} (slot "
               f"{result.gun.active_slot}); {result.bytes_sent} bytes in {result.seconds:.1f} s, "
               f"{result.retries} retries")


# ---------------------------------------------------------------- fleet

@gun.command("fleet")
@click.option("--db", default=_db_default, show_default="SCANHUB_DB, else db in scanhub.toml, else hub.db", help="Hub store URL or path.")
@click.option("--outdated", is_flag=True, help="Only guns whose image is not their site's current one.")
@format_option
@utc_option
def fleet_command(db, outdated, fmt):
    """Every gun the hub knows: its site, the image version it runs, and whether that is out of
    date against the hub's current data (recorded by `gun flash` and `gun inspect PORT`)."""
    from hub.cli.common import emit
    from hub.fleet import records as fleet

    _connect(db)
    rows = fleet.fleet()
    known = len(rows)
    if outdated:
        rows = [r for r in rows if r["out_of_date"]]
    if fmt == "json":
        click.echo(json.dumps(rows))
        return
    if fmt == "table" and not known:
        click.echo("no guns recorded yet (they are recorded by `scanhub gun flash` and `gun inspect PORT`)")
        return
    if fmt == "table" and not rows:
        click.echo(f"all {known} gun(s) run their site's current image")
        return
    emit(rows, fmt, "guns" + (" out of date" if outdated else ""),
         columns=["gun_id", "model", "site", "image_version", "status", "seen_ms", "seen_by"])
    if fmt == "table":
        stale = sum(1 for r in rows if r["out_of_date"])
        click.echo(f"{len(rows)} gun(s), {stale} out of date")
