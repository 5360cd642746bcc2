"""Gun configuration images: format, builder, signer, flashing protocol (host side) and fleet.

``container``     the image: manifest, typed sections, checksums, signature; build and read
``sections``      the sections as data and their column-table codec (``columns``)
``keys``          the hub's Ed25519 signing key pair
``builder``       a site's image from the hub store, with the changes since the last one
``framing``       frames of the serial flashing link
``link_protocol`` messages, TLVs and the transfer plan shared by host and gun
``flasher``       host side: handshake, chunked transfer, resume, commit, read-back
``fleet``         the guns the hub knows and the image they run
``commands``      ``scanhub gun …``

The format and protocol are documented in ``docs/gun-image.md``.
"""
