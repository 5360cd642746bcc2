"""Outbound campaigns: lists, dial modes, compliance in the dial path, predictive pacing,
answering-machine detection, keypad surveys and outbound ordering (docs/outbound.md)."""
