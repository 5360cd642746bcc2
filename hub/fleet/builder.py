"""Building a site's gun image from the hub store.

``build_site_image(site, key)`` takes the hub's per-site slice (``hub.network.station_config``), signs it,
records it as the site's last image, and reports what changed since the previous one.  The build
time in the header is the time the hub's data last changed; when the data has not changed since
the last build of that site, the last build's time is reused, so the image comes out byte for byte
the same.
"""
from __future__ import annotations

from dataclasses import dataclass

from firmware_images import container
from firmware_images.changes import config_changes
from firmware_images.errors import GunImageError, ImageFormatError
from hub.fleet import records as fleet
from hub.network.station_config import site_slice
from hub.store.meta import get_meta


@dataclass
class BuildResult:
    image: bytes
    info: container.ImageInfo
    changes: list[dict]           # per changed section, see ``changes.config_changes``
    previous_version: str | None  # the site's last image version, if any
    unchanged: bool               # same bytes as the last image


def build_site_image(site: str, key, now_ms: int | None = None) -> BuildResult:
    try:
        cfg = site_slice(site)
    except KeyError:
        raise GunImageError(f"unknown site {site}") from None
    previous = fleet.last_build(site)
    old_cfg = None
    if previous is not None:
        try:
            old = container.read_image(bytes(previous.image))
            old_cfg = old.config
        except ImageFormatError:   # a damaged stored copy: report everything as new
            old_cfg = None
    if previous is not None and previous.image_version == cfg["version"]:
        build_ms = previous.build_ms
    else:
        build_ms = int(get_meta("data_version_ms", "0") or 0)
    image = container.build_image(cfg, key, build_ms)
    info = container.parse_image(image)
    unchanged = previous is not None and bytes(previous.image) == image
    fleet.record_build(site, image, info, now_ms)
    return BuildResult(image, info, config_changes(old_cfg, cfg),
                       previous.image_version if previous else None, unchanged)
