"""The CRM's tables (the same on SQLite and PostgreSQL).

``crm_category``  an editable kind of customer (ocean carrier, sender, e-commerce shop …).
``crm_field``     a custom field of a category, defined as data: type, required, choices.
``crm_customer``  a customer of the company: generic fields, the category's custom fields as
                  JSON, the staff member who looks after it (``owner``), its tier, the argon2 hash
                  of its telephone PIN, ``merged_into`` once merged into another.
``crm_phone``     one normalised number of a customer (E.164, indexed): the caller lookup is one
                  indexed query on it; a number may belong to several customers.
``crm_change``    append-only: who changed which customer when, each field old -> new.
``crm_tier``      a tier rule as data: the business a customer needs in a window of days.
``crm_task``      an agent's task: a care reminder (birthday, contract, inactivity) or a step
                  of a follow-up plan.
``crm_record``    a business record (the forwarder's quote and booking: lane, container,
                  base price, rate, carrier, voyage, schedule, closed).
"""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class CrmCategory(Base):
    code = pw.CharField(primary_key=True, max_length=32)
    name = pw.CharField(max_length=100)
    family = pw.CharField(max_length=16, default="")          # forwarder | express | "" (your own)

    class Meta:
        table_name = "crm_category"


class CrmField(Base):
    category = pw.CharField(max_length=32, index=True)
    name = pw.CharField(max_length=48)
    type = pw.CharField(max_length=12)                         # text | int | decimal | date | bool | choice
    required = pw.BooleanField(default=False)
    choices = pw.TextField(default="")                         # "|"-separated, for choice
    label = pw.CharField(max_length=100, default="")

    class Meta:
        table_name = "crm_field"
        indexes = ((("category", "name"), True),)


class CrmCustomer(Base):
    id = pw.AutoField()
    name = pw.CharField(max_length=200, index=True)
    category = pw.CharField(max_length=32, index=True)
    contact = pw.CharField(max_length=200, default="")         # the contact person(s)
    address = pw.TextField(default="")
    tax_id = pw.CharField(max_length=32, default="", index=True)
    email = pw.CharField(max_length=200, default="")
    notes = pw.TextField(default="")
    birthday = pw.CharField(max_length=10, default="")         # YYYY-MM-DD or MM-DD
    contract_end = pw.CharField(max_length=10, default="")     # YYYY-MM-DD
    owner = pw.CharField(max_length=64, default="", index=True)
    tier = pw.CharField(max_length=32, default="ordinary")
    custom_json = pw.TextField(default="{}")
    pin_hash = pw.CharField(max_length=200, default="")
    created_ms = pw.BigIntegerField()
    updated_ms = pw.BigIntegerField()
    merged_into = pw.IntegerField(null=True)
    removed = pw.BooleanField(default=False)

    class Meta:
        table_name = "crm_customer"


class CrmPhone(Base):
    phone = pw.CharField(max_length=24, index=True)           # E.164
    customer = pw.IntegerField(index=True)
    kind = pw.CharField(max_length=12, default="")
    extension = pw.CharField(max_length=8, default="")
    written = pw.CharField(max_length=64, default="")          # as it was written

    class Meta:
        table_name = "crm_phone"
        indexes = ((("customer", "phone", "extension"), True),)


class CrmChange(Base):
    id = pw.AutoField()
    customer = pw.IntegerField(index=True)
    at_ms = pw.BigIntegerField()
    actor = pw.CharField(max_length=80)
    action = pw.CharField(max_length=16)                       # add | set | remove | handover | merge | import
    changes_json = pw.TextField()                              # {"field": [old, new], …}

    class Meta:
        table_name = "crm_change"


class CrmTier(Base):
    name = pw.CharField(primary_key=True, max_length=32)
    rank = pw.IntegerField()                                   # higher is better; the best tier met wins
    min_records = pw.IntegerField(default=0)
    min_amount_cents = pw.BigIntegerField(default=0)           # sum of the records' rates
    min_parcels = pw.IntegerField(default=0)                   # waybills as sender or receiver
    window_days = pw.IntegerField(default=365)

    class Meta:
        table_name = "crm_tier"


class CrmTask(Base):
    id = pw.AutoField()
    customer = pw.IntegerField(index=True)
    owner = pw.CharField(max_length=64, index=True)
    kind = pw.CharField(max_length=16)                         # birthday | contract | inactive | follow-up
    due = pw.CharField(max_length=10, index=True)              # YYYY-MM-DD
    note = pw.TextField(default="")
    dedupe = pw.CharField(max_length=120, null=True, unique=True)
    done_ms = pw.BigIntegerField(null=True)
    created_ms = pw.BigIntegerField()

    class Meta:
        table_name = "crm_task"


class CrmRecord(Base):
    id = pw.AutoField()
    customer = pw.IntegerField(index=True)
    origin = pw.CharField(max_length=64)                       # origin port
    dest = pw.CharField(max_length=64)                         # destination port
    container = pw.CharField(max_length=16, default="")        # 20GP, 40GP, 40HQ …
    base_cents = pw.BigIntegerField(null=True)                 # the upstream carrier's price
    rate_cents = pw.BigIntegerField(null=True)                 # what the customer was quoted
    carrier = pw.CharField(max_length=100, default="")
    quote_ms = pw.BigIntegerField(index=True)
    cargo = pw.CharField(max_length=200, default="")
    voyage = pw.CharField(max_length=64, default="")
    schedule = pw.CharField(max_length=64, default="")
    closed = pw.BooleanField(default=False)

    class Meta:
        table_name = "crm_record"
        indexes = ((("origin", "dest", "container"), False),)


TABLES = (CrmCategory, CrmField, CrmCustomer, CrmPhone, CrmChange, CrmTier, CrmTask, CrmRecord)
