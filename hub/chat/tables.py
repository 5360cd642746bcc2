"""The chats' tables (same on SQLite and PostgreSQL).

``chat``          one conversation: its id (the ACD's call id), the customer's secret, name,
                  phone, queue, the agent who took it, when it started, was answered and ended
``chat_message``  what each side wrote, in order
"""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class Chat(Base):
    id = pw.CharField(max_length=40, primary_key=True)      # chat-<hex>: the ACD's call id
    secret = pw.CharField(max_length=64)                     # the customer's key to the conversation
    name = pw.CharField(max_length=80, default="")
    phone = pw.CharField(max_length=24, default="", index=True)  # E.164, or empty
    queue = pw.CharField(max_length=128)
    agent = pw.CharField(max_length=128, default="", index=True)
    state = pw.CharField(max_length=16, default="waiting")  # waiting | talking | ended
    started_ms = pw.BigIntegerField(index=True)
    answered_ms = pw.BigIntegerField(null=True)
    ended_ms = pw.BigIntegerField(null=True)
    ended_by = pw.CharField(max_length=16, default="")      # customer | agent | system

    class Meta:
        table_name = "chat"


class ChatMessage(Base):
    id = pw.AutoField()
    chat = pw.CharField(max_length=40, index=True)
    at_ms = pw.BigIntegerField()
    side = pw.CharField(max_length=16)                       # customer | agent | system
    author = pw.CharField(max_length=128, default="")
    text = pw.TextField()

    class Meta:
        table_name = "chat_message"


TABLES = (Chat, ChatMessage)
