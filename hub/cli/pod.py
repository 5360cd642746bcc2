"""``scanhub pod``: export a parcel's proof of delivery (the photo or scanned receipt a station
attached to it; docs/protocol.md, "Proof of delivery")."""
from __future__ import annotations

import os

import click

from hub.cli.common import db_option, done, json_option, with_store


@click.command("pod")
@click.argument("waybill")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True),
              help="File to write the image to (default: <waybill>-<sha256 start>.<jpg|png|tif|pdf> here).")
@click.option("--sha256", help="Which image, when the parcel has several (the first characters are enough).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@json_option
@db_option
@with_store
def pod(waybill, out_path, sha256, force, fmt):
    """Write WAYBILL's proof of delivery to a file: the latest complete image, or --sha256.

    `scanhub track WAYBILL --json` lists a parcel's images (proofs) with their digests.

    \b
    Examples:
      scanhub pod 70000000000016 --out 70000000000016.jpg
      scanhub pod 70000000000016 --sha256 3f2a9c --json
    """
    from hub.scans.proofs import EXTENSIONS, ProofError, image
    p, data = image(waybill, sha256)
    out_path = out_path or f"{waybill}-{p['sha256'][:12]}{EXTENSIONS[p['type']]}"
    if os.path.exists(out_path) and not force:
        raise ProofError(f"{out_path} exists: choose another --out, or --force to overwrite it")
    with open(out_path, "wb") as f:
        f.write(data)
    done(dict(p, out=out_path), f"wrote {p['type']} {p['sha256'][:12]}… ({p['size']} bytes) to {out_path}", fmt)
