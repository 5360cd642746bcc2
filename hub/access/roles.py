"""Roles and what each may do, as data (docs/web.md, "Roles").

A permission names a page or an API area; ``ALLOWED`` says which roles have it.  Site staff see
only their own site's records (``scope``); every other role sees the whole network.
"""
from __future__ import annotations

ROLES = ("agent", "supervisor", "qa", "site", "admin")

ROLE_WORDS = {"agent": "call-center agent", "supervisor": "call-center supervisor", "qa": "quality assurance",
              "site": "site staff (one site)", "admin": "administrator"}

ALLOWED: dict[str, frozenset[str]] = {
    "dashboard": frozenset({"admin", "supervisor", "site"}),        # the hub dashboard
    "dead_letters": frozenset({"admin", "supervisor"}),             # raw payloads from stations
    "parcels": frozenset(ROLES),                                    # staff tracking (operators, couriers)
    "orders": frozenset({"admin", "supervisor", "agent", "site"}),  # platform / pickup orders
    "pickup": frozenset({"admin", "site"}),                         # bind orders to waybills
    "accounts": frozenset({"admin", "supervisor", "site"}),         # prepaid balances
    "workorders": frozenset({"admin", "supervisor", "agent", "site"}),  # site staff: their site's only
    "workorders_manage": frozenset({"admin", "supervisor", "agent"}),   # open, verify, close, reopen
    "agent_desk": frozenset({"admin", "supervisor", "agent"}),  # state buttons, screen pop, knowledge base
    "wallboard": frozenset({"admin", "supervisor"}),                    # queues and agents live
    "qa": frozenset({"admin", "supervisor", "qa"}),                     # recordings, scoring, results
    "recordings": frozenset({"admin", "supervisor", "qa", "agent"}),  # play call recordings
    "waybills": frozenset({"admin", "site"}),                           # waybill entry over the API
    "chat_api": frozenset({"admin", "supervisor"}),                     # chats on customers' behalf (API)
    "users": frozenset({"admin"}),                                  # users, tokens
    "audit": frozenset({"admin"}),
}


def may(role: str, permission: str) -> bool:
    return role in ALLOWED.get(permission, ())


def scope(role: str, site: str | None) -> str | None:
    """The one site whose records this user may see, or None for the whole network."""
    return site if role == "site" else None
