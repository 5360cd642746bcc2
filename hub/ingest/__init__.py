"""Receiving scans: the MQTT service, the derivation pipeline and its background process."""
