"""Errors of the contract: one root, ``ContractError``."""
from __future__ import annotations


class ContractError(ValueError):
    """Something that breaks the station ⇄ hub contract; the message says what and where."""


class PayloadError(ContractError):
    """A payload or scan that does not follow the documented schema; the message is the reason."""


class RuleError(ContractError):
    """A waybill rule that cannot be used (bad pattern, unknown check scheme …)."""


class BrokerURLError(ContractError):
    """A broker URL that cannot be used (scheme, host, port)."""
