"""``scanhub mail``: the SMTP server for replies and notices, receiving mail into work orders
(an SMTP listener or IMAP polling), a test message (docs/mail.md)."""
from __future__ import annotations

import click

from hub.cli.common import db_option, done, fail_partly, json_option, with_store


@click.group("mail")
def mail():
    """E-mail for work orders: replies and step notices out by SMTP, mail in by SMTP or IMAP.

    \b
    Examples:
      scanhub mail setup --smtp smtp.example.com:587 --from service@example.com --security starttls \\
          --user service@example.com --password-env SMTP_PASSWORD
      scanhub mail send-test you@example.com
      scanhub mail serve --listen 0.0.0.0:2525        receive mail (point the MX or a forward here)
      scanhub mail poll --imap imap.example.com --user service@example.com --password-env IMAP_PASSWORD
    """


def _hostport(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", str(default_port))
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _secret(env_name):
    import os
    if not env_name:
        return None
    if env_name not in os.environ:
        raise click.UsageError(f"the variable {env_name} is not set")
    return os.environ[env_name]


@mail.command("setup")
@click.option("--smtp", "server", help="HOST:PORT of the SMTP server.")
@click.option("--from", "sender", help="The sender address of replies and notices.")
@click.option("--security", type=click.Choice(["none", "starttls", "tls"]), help="Plain, STARTTLS (port 587) or TLS from the start (port 465).")
@click.option("--user", help="The SMTP login, when the server wants one.")
@click.option("--password-env", metavar="VAR", help="The variable that holds the password (never on the command line).")
@json_option
@db_option
@with_store
def mail_setup(server, sender, security, user, password_env, fmt):
    """Set the SMTP server replies and notices go out by (kept in the store)."""
    from hub.mail.send import configure
    host, port = _hostport(server, 25) if server else (None, None)
    s = configure(host=host, port=port, sender=sender, security=security, user=user, password=_secret(password_env))
    done({"host": s.host, "port": s.port, "sender": s.sender, "security": s.security, "user": s.user},
         f"mail goes out by {s.host}:{s.port} ({s.security}) from {s.sender}", fmt)


@mail.command("send-test")
@click.argument("to")
@json_option
@db_option
@with_store
def mail_send_test(to, fmt):
    """Send a test message to TO with the settings in force."""
    from hub.mail.send import send
    r = send(to, "scanhub test message", "This is a test message from scanhub.")
    done(r, f"sent {r['message_id']} to {to}", fmt)


@mail.command("serve")
@click.option("--listen", default="127.0.0.1:2525", show_default=True, help="HOST:PORT to receive mail on.")
@db_option
def mail_serve(listen, db):
    """Receive mail by SMTP until stopped: each message creates or updates its work order."""
    import signal
    import threading

    from hub.cli.common import open_store
    from hub.crm.workorders.mailin import handle
    from hub.mail.receive import smtp_listener
    open_store(db)
    host, port = _hostport(listen, 2525)
    ctl = smtp_listener(handle, host, port)
    try:
        ctl.start()
    except (OSError, RuntimeError) as e:
        raise click.ClickException(f"cannot listen on {listen}: {e}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"mail listener on {host}:{port}", err=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        ctl.stop()


@mail.command("poll")
@click.option("--imap", "server", required=True, help="HOST[:PORT] of the IMAP server.")
@click.option("--user", required=True, help="The IMAP login.")
@click.option("--password-env", metavar="VAR", required=True, help="The variable that holds the password.")
@click.option("--mailbox", default="INBOX", show_default=True, help="The folder to read.")
@click.option("--plain", is_flag=True, help="Without TLS (port 143).")
@json_option
@db_option
@with_store
def mail_poll(server, user, password_env, mailbox, plain, fmt):
    """Take the unseen messages of an IMAP mailbox into work orders once (run it from cron).

    Exit status 1 when a message was refused (the log says why) or could not be fetched (it
    stays unseen and is tried again by the next poll)."""
    from hub.crm.workorders.mailin import handle
    from hub.mail.receive import poll_imap
    host, port = _hostport(server, 143 if plain else 993) if ":" in server else (server, None)
    r = poll_imap(handle, host, user, _secret(password_env), port=port, mailbox=mailbox, ssl=not plain)
    done(r, f"{r['handled']} message(s) taken, {r['refused']} refused"
            + (f", {r['left']} the server would not give (left unseen)" if r["left"] else ""), fmt)
    fail_partly(r["refused"] + r["left"], r["handled"] + r["refused"] + r["left"], "message(s)")
