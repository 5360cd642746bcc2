"""What a station and the hub agree on, in one leaf package that imports nothing of ours.

* :mod:`contract.protocol` — MQTT topics, payload encoding, compact sequence ranges;
* :mod:`contract.scan` — the scan event schema as data (kinds, kind ranks, clock states, every
  field with its type, length limit and whether it is required) and the one ``validate_scan``;
* :mod:`contract.config` — the station configuration slice: its content hash, gun PIN hashing;
* :mod:`contract.waybill` — waybill number rules (patterns, prefixes, check characters) as data;
* :mod:`contract.routing` — the next stop of a dispatch scan;
* :mod:`contract.issuance` — which site a waybill number was issued to;
* :mod:`contract.forecast` — the pre-dispatch comparison;
* :mod:`contract.clock` — one ``now_ms`` and the one clock-sanity threshold;
* :mod:`contract.broker` — broker URLs and an MQTT client set up from one;
* :mod:`contract.version` — the software version stations and the hub report.

The edge, the hub, gun images and the gun simulator all import these; docs/protocol.md is the
prose form of the same contract, docs/network.md of the routing and issuance rules.
"""
