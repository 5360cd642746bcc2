"""Console users, API tokens and the audit log (same tables on SQLite and PostgreSQL).

``web_user``    a person who logs in: role, the site a site-staff user belongs to, the argon2
                hash of the password (never the password), ``session_version`` (raised when the
                password, role or site changes, or the user is disabled: every session of the
                old version stops working; a disabled user's tokens are refused too).
``api_token``   a token for the HTTP API, acting as its user: only its SHA-256 is kept (the
                token is shown once, when it is made).
``audit_entry`` append-only: who (a user, or ``cli:NAME`` for the command line) did what to what.
"""
from __future__ import annotations

import peewee as pw

from contract.scan import SITE_LEN
from hub.store.db import Base


class WebUser(Base):
    username = pw.CharField(unique=True, max_length=64)
    display_name = pw.CharField(max_length=200, default="")
    role = pw.CharField(max_length=16)
    site = pw.CharField(max_length=SITE_LEN, null=True)     # site staff: their site
    password_hash = pw.CharField(max_length=200)
    active = pw.BooleanField(default=True)
    session_version = pw.IntegerField(default=1)
    created_ms = pw.BigIntegerField()

    class Meta:
        table_name = "web_user"


class ApiToken(Base):
    user = pw.ForeignKeyField(WebUser, on_delete="CASCADE", backref="tokens")
    name = pw.CharField(max_length=64)
    digest = pw.CharField(unique=True, max_length=64)         # hex SHA-256 of the token
    prefix = pw.CharField(max_length=12)                      # its first characters, to tell tokens apart
    created_ms = pw.BigIntegerField()
    last_used_ms = pw.BigIntegerField(null=True)

    class Meta:
        table_name = "api_token"
        indexes = ((("user", "name"), True),)


class AuditEntry(Base):
    at_ms = pw.BigIntegerField(index=True)
    actor = pw.CharField(max_length=80)
    action = pw.CharField(max_length=40)
    target = pw.CharField(max_length=200, default="")
    detail = pw.TextField(default="")
    address = pw.CharField(max_length=64, default="")          # the client's address (web, API)

    class Meta:
        table_name = "audit_entry"


TABLES = (WebUser, ApiToken, AuditEntry)
