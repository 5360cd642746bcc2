"""The hub: ingest, basic data, business logic and (later) the call center, in subpackages.

Layers, top to bottom: ``cli``/``web`` → ``ingest`` → ``schema`` → ``crm`` → ``telephony`` →
``business``/``fleet`` → ``scans`` → ``network`` → ``store`` → ``errors`` (docs/architecture.md).
"""
