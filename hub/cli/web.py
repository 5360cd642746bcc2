"""``scanhub web``: run the web console and HTTP API, and manage its users, API tokens and audit
log (docs/web.md)."""
from __future__ import annotations

import click

from hub.cli.common import db_option, done, emit, format_option, json_option, open_store, utc_option

ROLE_HELP = "agent, supervisor, qa, site (site staff: give --site) or admin."


def _actor() -> str:
    import getpass
    try:
        return "cli:" + getpass.getuser()
    except Exception:           # no user name in this environment (a container)
        return "cli"


def _password(password_file, password_stdin, required: bool):
    """The password from a file, standard input, or a hidden prompt (never the command line,
    where /proc/PID/cmdline shows it)."""
    import sys
    if password_file and password_stdin:
        raise click.UsageError("give --password-file or --password-stdin, not both")
    if password_file:
        with open(password_file, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not required:
        return None
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to ask for the password: give --password-file or --password-stdin")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


password_options = [
    click.option("--password-file", type=click.Path(dir_okay=False, exists=True), default=None,
                 help="Read the password from the first line of this file."),
    click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input."),
]


def with_password(fn):
    for opt in reversed(password_options):
        fn = opt(fn)
    return fn


@click.group()
def web():
    """The web console (hub dashboard, public tracking, HTTP API) and its users.

    \b
    Examples:
      scanhub web user add admin --role admin                 # asks for a password
      scanhub web user add lin --role site --site 100 --name "Lin Hua"
      scanhub web run --listen 127.0.0.1:8080                 # behind a TLS reverse proxy
      scanhub web token add admin --name erp                  # prints the token once
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/track/70000000000016
    """


@web.command()
@db_option
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="Where the console listens (one port for pages, live updates and the API).")
@click.option("--insecure-cookies", is_flag=True,
              help="Send the session cookie over plain HTTP too. Only for a console reached on this machine "
                   "without TLS; behind a reverse proxy with HTTPS leave it off.")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are trusted "
                   "(comma-separated, or * for any).")
@click.option("--root-path", default="", help="The path prefix the reverse proxy serves the console under, e.g. /console.")
@click.option("--refresh", "refresh_s", type=click.FloatRange(0.2, 600), default=2.0, show_default=True,
              help="How often (seconds) the live dashboard looks for changes.")
@click.option("--chat-queue", default="chat", show_default=True, metavar="QUEUE",
              help="The ACD queue the public page's chats wait in (a queue of the PBX's --queues file).")
def run(db, listen, insecure_cookies, forwarded_allow_ips, root_path, refresh_s, chat_queue):
    """Serve the web console and the HTTP API on one port, beside `scanhub hub run` on the same store.

    \b
    Examples:
      scanhub web run --db hub.db --listen 127.0.0.1:8080
      scanhub web run --listen 127.0.0.1:8080 --root-path /console      # proxied at https://host/console
      scanhub web run --listen 127.0.0.1:8080 --insecure-cookies         # plain HTTP on this machine only
    """
    import uvicorn
    from hub.network.listen import parse_listen
    from hub.web.app import create_app
    host, port = parse_listen(listen)
    host = host or "0.0.0.0"
    open_store(db)
    app = create_app(None, secure_cookies=not insecure_cookies, refresh_s=refresh_s, chat_queue=chat_queue)
    click.echo(f"web console on http://{host}:{port}{root_path}/ (store {db})", err=True)
    uvicorn.run(app, host=host, port=port, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips,
                root_path=root_path, log_level="warning", access_log=False)


@web.group()
def user():
    """Console users: add, list, change, remove.

    \b
    Examples:
      scanhub web user add chen --role supervisor --name "Chen Jie"
      printf '%s\\n' "$PASSWORD" | scanhub web user add lin --role site --site 100 --password-stdin
      scanhub web user list --format csv
      scanhub web user set lin --disable
      scanhub web user remove lin
    """


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, help=ROLE_HELP)
@click.option("--site", default=None, help="The site a site-staff user belongs to.")
@click.option("--name", "display_name", default="", help="The name shown in the console.")
@with_password
@db_option
@json_option
def user_add(username, role, site, display_name, password_file, password_stdin, db, fmt):
    """Add a console user (the password is asked for, or read with --password-file/--password-stdin)."""
    from hub.access import users
    open_store(db)
    row = users.add(username, role, _password(password_file, password_stdin, True), site=site,
                    display_name=display_name, actor=_actor())
    done(row, f"user {username} added ({role}" + (f", site {site})" if site else ")"), fmt)


@user.command("list")
@db_option
@format_option
@utc_option
def user_list(db, fmt):
    """Console users: role, site, whether active, how many API tokens."""
    from hub.access import users
    open_store(db)
    emit(users.users(), fmt, "console users", totals=False)


@user.command("set")
@click.argument("username")
@click.option("--role", default=None, help=ROLE_HELP)
@click.option("--site", default=None, help="The site of a site-staff user.")
@click.option("--name", "display_name", default=None, help="The name shown in the console.")
@click.option("--new-password", is_flag=True, help="Set a new password (asked for, or --password-file/--password-stdin).")
@click.option("--enable/--disable", "active", default=None, help="Let the user log in again, or stop them.")
@with_password
@db_option
@json_option
def user_set(username, role, site, display_name, new_password, active, password_file, password_stdin, db, fmt):
    """Change a user; a new password, role or site, or --disable, ends their sessions."""
    from hub.access import users
    open_store(db)
    password = _password(password_file, password_stdin, new_password) if (new_password or password_file or password_stdin) else None
    row = users.set_(username, actor=_actor(), role=role, site=site, password=password,
                     display_name=display_name, active=active)
    done(row, f"user {username} changed", fmt)


@user.command("remove")
@click.argument("username")
@db_option
@json_option
def user_remove(username, db, fmt):
    """Remove a user and their API tokens (the audit log keeps what they did)."""
    from hub.access import users
    open_store(db)
    users.remove(username, actor=_actor())
    done({"username": username, "removed": True}, f"user {username} removed", fmt)


@web.group()
def token():
    """API tokens: each acts as its user, with the user's role and site.

    \b
    Examples:
      scanhub web token add erp-bot --name erp       # prints the token once: keep it
      scanhub web token list
      scanhub web token revoke erp-bot erp
    """


@token.command("add")
@click.argument("username")
@click.option("--name", "token_name", required=True, help="What the token is for (erp, wms …), unique per user.")
@db_option
@json_option
def token_add(username, token_name, db, fmt):
    """Make an API token for USERNAME and print it (only its hash is kept: it cannot be shown again)."""
    from hub.access import users
    open_store(db)
    t = users.issue_token(username, token_name, actor=_actor())
    done({"username": username, "name": token_name, "token": t}, t, fmt)


@token.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@db_option
@format_option
@utc_option
def token_list(username, db, fmt):
    """API tokens (their first characters, never the whole token), when made and last used."""
    from hub.access import users
    open_store(db)
    emit(users.tokens(username), fmt, "API tokens", totals=False)


@token.command("revoke")
@click.argument("username")
@click.argument("token_name", metavar="NAME")
@db_option
@json_option
def token_revoke(username, token_name, db, fmt):
    """Revoke USERNAME's token NAME: calls with it are refused from now on."""
    from hub.access import users
    open_store(db)
    users.revoke_token(username, token_name, actor=_actor())
    done({"username": username, "name": token_name, "revoked": True}, f"token {token_name} of {username} revoked", fmt)


@web.command("audit")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="At most this many entries.")
@click.option("--actor", default=None, help="Only what this user (or cli:NAME) did.")
@db_option
@format_option
@utc_option
def audit_log(limit, actor, db, fmt):
    """The audit log, newest first: logins, failed logins, user and token changes, pickups through the API.

    \b
    Examples:
      scanhub web audit --limit 20
      scanhub web audit --actor admin --format csv
    """
    from hub.access import audit
    open_store(db)
    emit(audit.entries(limit, actor), fmt, "audit log", totals=False)
