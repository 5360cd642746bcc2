"""Gun configuration images: format, signer and flashing protocol (host side).

``container``     the image: manifest, typed sections, checksums, signature; build and read
``sections``      the sections as data and their column-table codec (``columns``)
``changes``       what changed between two configurations, per section
``keys``          the hub's Ed25519 signing key pair
``framing``       frames of the serial flashing link
``link_protocol`` messages, TLVs and the transfer plan shared by host and gun
``flasher``       host side: handshake, chunked transfer, resume, commit, read-back

This package builds an image from a configuration slice (a plain dict, ``contract.config``) and
imports only ``contract`` and ``drivers``.  The hub's side — building a site's image from its
store, the fleet of guns and the ``scanhub gun`` commands — is ``hub.fleet`` and ``hub.cli.gun``.
The format and protocol are documented in ``docs/gun-image.md``.
"""
