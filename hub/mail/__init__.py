"""E-mail as a second channel (docs/mail.md): messages parsed and kept with their threads
(``message.py``, ``tables.py``, ``threads.py``), sent by SMTP (``send.py``), received by an SMTP
listener (aiosmtpd) or by polling an IMAP mailbox (``receive.py``).  It knows nothing of work
orders: a message carries an optional ``ticket`` that the package above it (``hub.crm.workorders``)
sets and reads."""
