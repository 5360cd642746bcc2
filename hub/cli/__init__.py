"""The hub's command groups (one module each), their shared options and the one renderer."""
