"""Polling a real IMAP server: a private Dovecot (``dovecot -F`` with its own config, on a free
port of 127.0.0.1, plaintext login, one passwd-file user, a maildir under tmp_path) fed by IMAP
APPEND, read by ``scanhub mail poll`` and ``poll_imap`` into the real store.

What is checked: a reply by IMAP goes into its order's thread; what was taken is \\Seen, so the
next poll takes nothing and nothing is kept twice; a message ``handle`` refuses is counted refused
and not taken again, one whose handling broke stays unseen for the next poll; a wrong password, a
server that goes away or stops answering mid-run is one clear error within the timeout."""
from __future__ import annotations

import grp
import imaplib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from hub.crm.workorders import mailin, orders
from hub.mail.message import MailError
from hub.mail.receive import poll_imap
from hub.store.db import database
from tests.conftest import needs, sample_store, wait_for

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "alice", "s3cret-imap"
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dovecot_binary() -> str:
    exe = shutil.which("dovecot", path=SBIN)
    if exe is None:
        needs("Dovecot", "no dovecot binary (apt-get install dovecot-imapd; `make system-deps` installs it)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    m = re.match(r"(\d+)\.(\d+)", out)
    if not m or (int(m[1]), int(m[2])) != (2, 3):
        # 2.4 renamed most of the settings used below (mail_location, passdb args, ...)
        needs("Dovecot 2.3", f"{exe} --version says {out!r}; the private config below is 2.3's syntax")
    return exe


class Dovecot:
    """A private Dovecot in ``root``: config, passwd file, maildir, sockets, state and logs.

    Dovecot refuses mail access as root and runs imap-login unprivileged.  As root the mail
    user is ``nobody``, reached through ``mail_chroot`` (tmp_path's parents are root's, 0700),
    and imap-login runs as ``dovenull`` (else ``nobody``) in its usual chroot under base_dir.
    As anyone else every process runs as that user: no chroots (anvil, ipc and the login
    services have one by default), the mail user is our uid and gid."""

    def __init__(self, root: Path):
        self.exe = dovecot_binary()
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        # unix socket paths are at most 107 bytes and Dovecot's longest under base_dir is 25: a
        # deep tmp_path (a long --basetemp) gets a short base_dir of its own, removed at the end
        base = root / "run"
        if len(str(base)) > 80:
            base = Path(tempfile.mkdtemp(prefix="dovecot-"))
            self._short_base = base
        else:
            base.mkdir()
            self._short_base = None
        self.base = base
        for d in ("state", "mail"):
            (root / d).mkdir(exist_ok=True)
        self.log = root / "dovecot.log"
        self.stderr = root / "dovecot.stderr"

    def _config(self) -> str:
        me = pwd.getpwuid(os.geteuid()).pw_name
        my_group = grp.getgrgid(os.getegid()).gr_name
        mail = self.root / "mail"
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            try:
                login_user = pwd.getpwnam("dovenull").pw_name
            except KeyError:
                login_user = "nobody"
            home = f"/{USER}"                      # inside the chroot
            (mail / USER).mkdir(exist_ok=True)
            os.chown(mail / USER, uid, gid)
            specific = f"mail_chroot = {mail}\nvalid_chroot_dirs = {mail}\n"
            login_chroot = ""                      # the default: chroot = login
        else:
            uid, gid = os.geteuid(), os.getegid()
            login_user = me
            home = str(mail / USER)
            specific = "".join(f"service {s} {{\n  chroot =\n}}\n"     # chroot needs root
                               for s in ("anvil", "ipc", "imap-urlauth-login"))
            login_chroot = "  chroot =\n"
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{home}::\n")
        return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {self.base}
state_dir = {self.root / 'state'}
instance_name = scanhub-test-{self.port}
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {me}
default_internal_group = {my_group}
default_login_user = {login_user}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
shutdown_clients = yes
{specific}mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root / 'passwd'}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.root / 'passwd'}
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth-worker {{
  user = $default_internal_user
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    def _greets(self) -> bool:
        if self.proc.poll() is not None:
            raise ChildProcessError(f"dovecot exited with status {self.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.settimeout(2)
                return s.recv(200).startswith(b"* OK")
        except OSError:
            return False

    def start(self) -> "Dovecot":
        for _attempt in range(3):                  # a port taken between choosing and binding
            self.port = free_port()
            conf = self.root / "dovecot.conf"
            conf.write_text(self._config())
            with open(self.stderr, "wb") as err:
                self.proc = subprocess.Popen([self.exe, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                             stdout=err, stderr=err, start_new_session=True)
            deadline = time.monotonic() + 30
            try:
                while not self._greets():
                    if time.monotonic() > deadline:
                        self.stop()
                        pytest.fail(f"no greeting from dovecot on 127.0.0.1:{self.port} in 30 s:\n{self.logs()}")
                    time.sleep(0.02)
                return self
            except ChildProcessError:
                self.proc.wait(timeout=10)
                if "in use" not in self.logs():
                    pytest.fail(f"dovecot did not start:\n{self.logs()}")
        pytest.fail(f"dovecot found no free port:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in (self.stderr, self.log) if p.exists())

    def _group(self, sig) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)      # the master and its children (their own group)
            except ProcessLookupError:
                pass

    def freeze(self) -> None:
        self._group(signal.SIGSTOP)

    def thaw(self) -> None:
        self._group(signal.SIGCONT)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def stop(self, sig=signal.SIGTERM) -> None:
        """The whole server goes away: the master and every child, sessions included (the
        master's own shutdown leaves a busy imap process serving its client).  SIGTERM is a
        shutdown (sessions say BYE), SIGKILL a crash (connections just close)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.thaw()
        self._group(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._group(signal.SIGKILL)
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10             # children still in the group keep its id ours
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._group_alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_for(lambda: not self._group_alive(), timeout=10, what="dovecot's processes to be killed")

    def close(self) -> None:
        self.stop()
        if self._short_base is not None:
            shutil.rmtree(self._short_base, ignore_errors=True)

    # --- the mailbox, as a mail client sees it --------------------------------------------------
    def client(self) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=20)
        c.login(USER, PASSWORD)
        return c

    def append(self, *messages: bytes) -> None:
        c = self.client()
        try:
            for m in messages:
                typ, data = c.append("INBOX", None, None, m)
                assert typ == "OK", data
        finally:
            c.logout()

    def seen(self) -> dict[str, bool]:
        """Message-ID -> whether the message is \\Seen, for every message of the INBOX."""
        c = self.client()
        try:
            c.select("INBOX", readonly=True)
            out = {}
            for num in c.search(None, "ALL")[1][0].split():
                flags = imaplib.ParseFlags(c.fetch(num, "(FLAGS)")[1][0])
                head = c.fetch(num, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")[1][0][1].decode()
                out[re.search(r"<[^>]+>", head)[0]] = b"\\Seen" in flags
            return out
        finally:
            c.logout()


@pytest.fixture
def dovecot(tmp_path):
    d = Dovecot(tmp_path / "dc")
    try:
        yield d.start()
    finally:
        d.close()


@pytest.fixture
def store(store_url):
    sample_store(store_url)
    yield store_url
    database.close()


def mail(msgid: str, subject: str, body: str, *, sender: str | None = "c@example.com",
         in_reply_to: str | None = None) -> bytes:
    m = EmailMessage()
    if sender:
        m["From"] = sender
    m["To"], m["Subject"], m["Message-ID"] = "service@hub.example", subject, msgid
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = in_reply_to
    m.set_content(body)
    return m.as_bytes()


def cli_poll(d: Dovecot, store: str, *extra: str, password: str = PASSWORD):
    return CliRunner().invoke(cli.main, ["mail", "poll", "--imap", f"127.0.0.1:{d.port}", "--user", USER,
                                         "--password-env", "IMAP_PASSWORD", "--plain", "--db", store, *extra],
                              env={"IMAP_PASSWORD": password})


def poll(d: Dovecot, password: str = PASSWORD, handle=mailin.handle, **kw) -> dict:
    return poll_imap(handle, "127.0.0.1", USER, password, port=d.port, ssl=False, **kw)


def an_order() -> str:
    """An inquiry opened by a customer's first message (<m1@example.com>), as mail opens them."""
    said = mailin.handle(mail("<m1@example.com>", "快件没收到", "单号 70000000000016 一周了"))
    return re.search(r"opened (WO\d+)", said)[1]


def thread_ids(ticket: str) -> list[str]:
    return [m["message_id"] for m in orders.show(ticket)["mail"]]


def mail_events(ticket: str) -> int:
    return [e["action"] for e in orders.show(ticket)["events"]].count("mail")


# --- 1 and 2: replies into the thread, taken once ---------------------------------------------
def test_replies_by_imap_go_into_their_orders_thread_once(store, dovecot):
    t = an_order()
    dovecot.append(mail("<r1@example.com>", "Re: 快件没收到", "再问一次", in_reply_to="<m1@example.com>"))
    assert dovecot.seen() == {"<r1@example.com>": False}

    r = cli_poll(dovecot, store, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"handled": 1, "refused": 0, "left": 0}
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>"]
    assert "再问一次" in orders.show(t)["events"][-1]["text"] and mail_events(t) == 1
    assert dovecot.seen() == {"<r1@example.com>": True}

    r = cli_poll(dovecot, store)                     # taken already: nothing the second time
    assert r.exit_code == 0 and r.output.strip() == "0 message(s) taken, 0 refused", r.output
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>"] and mail_events(t) == 1

    dovecot.append(mail("<r2@example.com>", "Re: Re: 快件没收到", "第三次", in_reply_to="<r1@example.com>"),
                   mail("<n1@example.com>", "另一件事", "新问题", sender="d@example.com"))
    assert poll(dovecot) == {"handled": 2, "refused": 0, "left": 0}
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>", "<r2@example.com>"]
    assert mail_events(t) == 2
    assert dovecot.seen() == {"<r1@example.com>": True, "<r2@example.com>": True, "<n1@example.com>": True}
    assert poll(dovecot) == {"handled": 0, "refused": 0, "left": 0}
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>", "<r2@example.com>"]
    assert mail_events(t) == 2
    kinds = sorted((o["kind"], o["source"]) for o in orders.listing())
    assert kinds == [("inquiry", "email"), ("inquiry", "email")]     # the unthreaded one opened its own


# --- 3: what handle refuses or cannot finish ----------------------------------------------------
def test_a_message_handle_refuses_is_counted_refused_marked_seen_and_kept_nowhere(store, dovecot):
    from hub.mail.tables import MailMessage
    t = an_order()
    dovecot.append(mail("<bad@example.com>", "no sender", "who am I", sender=None),
                   mail("<r1@example.com>", "Re: 快件没收到", "再问一次", in_reply_to="<m1@example.com>"))
    r = cli_poll(dovecot, store)
    assert r.exit_code == 1, r.output                # a refusal is worth a look: cron mails it
    assert r.output.splitlines() == ["1 message(s) taken, 1 refused", "1 of 2 message(s) failed"], r.output
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>"]   # the one after it was still taken
    assert MailMessage.get_or_none(MailMessage.message_id == "<bad@example.com>") is None
    assert MailMessage.select().count() == 2 and len(orders.listing()) == 1
    assert dovecot.seen() == {"<bad@example.com>": True, "<r1@example.com>": True}
    assert poll(dovecot) == {"handled": 0, "refused": 0, "left": 0}              # not refused again each poll


def test_a_message_the_server_will_not_give_is_left_unseen_and_the_poll_goes_on(store, dovecot):
    """A message expunged by another session while the poll runs: Dovecot answers its FETCH with
    NO (or nothing); the poll counts it left, takes the others, and exits 1."""
    t = an_order()
    dovecot.append(mail("<r1@example.com>", "Re: 1", "一", in_reply_to="<m1@example.com>"),
                   mail("<r2@example.com>", "Re: 2", "二", in_reply_to="<m1@example.com>"),
                   mail("<r3@example.com>", "Re: 3", "三", in_reply_to="<m1@example.com>"))

    def handle_then_expunge_the_second(raw):
        said = mailin.handle(raw)
        if "<r1@example.com>" in raw.decode("utf-8", "replace"):
            other = dovecot.client()                 # someone else's mail client deletes r2
            other.select("INBOX")
            num = other.search(None, "HEADER", "Message-ID", "<r2@example.com>")[1][0]
            other.store(num, "+FLAGS", "\\Deleted")
            other.expunge()
            other.logout()
        return said
    assert poll(dovecot, handle=handle_then_expunge_the_second) == {"handled": 2, "refused": 0, "left": 1}
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>", "<r3@example.com>"]
    assert dovecot.seen() == {"<r1@example.com>": True, "<r3@example.com>": True}


def test_a_message_whose_handling_broke_stays_unseen_for_the_next_poll(tmp_path, dovecot):
    """"marks a message seen only after handle returned": a store that fails on one message
    (a trigger, the lowest layer there is) stops the poll there; that message and the ones after
    it are still unseen, and the next poll takes them."""
    db = sample_store(str(tmp_path / "hub.db"))
    try:
        t = an_order()
        con = sqlite3.connect(db)
        con.execute("CREATE TRIGGER scanhub_test_fault BEFORE INSERT ON mail_message "
                    "WHEN NEW.message_id = '<r2@example.com>' BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
        con.commit()
        dovecot.append(mail("<r1@example.com>", "Re: 1", "一", in_reply_to="<m1@example.com>"),
                       mail("<r2@example.com>", "Re: 2", "二", in_reply_to="<m1@example.com>"),
                       mail("<r3@example.com>", "Re: 3", "三", in_reply_to="<m1@example.com>"))
        with pytest.raises(Exception, match="injected fault") as e:
            poll(dovecot)
        assert not isinstance(e.value, MailError)      # not a refusal: the message was not dealt with
        assert dovecot.seen() == {"<r1@example.com>": True, "<r2@example.com>": False, "<r3@example.com>": False}
        assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>"]
        con.execute("DROP TRIGGER scanhub_test_fault")
        con.commit()
        con.close()
        assert poll(dovecot) == {"handled": 2, "refused": 0, "left": 0}
        assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>", "<r2@example.com>", "<r3@example.com>"]
        assert all(dovecot.seen().values()) and mail_events(t) == 3
    finally:
        database.close()


# --- 4: a wrong password -------------------------------------------------------------------------
def test_a_wrong_password_is_one_clear_error(store, dovecot):
    dovecot.append(mail("<n1@example.com>", "你好", "在吗"))
    with pytest.raises(MailError) as e:
        poll(dovecot, password="wrong")
    msg = str(e.value)
    assert msg.startswith("IMAP 127.0.0.1:") and "Authentication failed" in msg and "b'" not in msg, msg

    r = cli_poll(dovecot, store, password="wrong")
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert r.output.startswith("Error: IMAP 127.0.0.1:") and "Authentication failed" in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output

    env = dict(os.environ, IMAP_PASSWORD="wrong")       # the real entry point, its real stderr
    p = subprocess.run([sys.executable, "cli.py", "mail", "poll", "--imap", f"127.0.0.1:{dovecot.port}",
                        "--user", USER, "--password-env", "IMAP_PASSWORD", "--plain", "--db", store],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip().startswith("Error: IMAP 127.0.0.1:") and "Traceback" not in p.stderr, p.stderr
    assert dovecot.seen() == {"<n1@example.com>": False} and orders.listing() == []


# --- 5: the server going away or hanging ------------------------------------------------------
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["shutdown", "crash"])
def test_the_server_going_away_mid_run_is_a_clear_error_and_nothing_is_lost(store, dovecot, how):
    t = an_order()
    ids = [f"<r{i}@example.com>" for i in (1, 2, 3)]
    dovecot.append(*(mail(i, f"Re: {i}", i, in_reply_to="<m1@example.com>") for i in ids))
    calls = []

    def handle_then_stop_the_server(raw):            # the real handle; the server goes right after
        calls.append(mailin.handle(raw))
        dovecot.stop(how)
        return calls[-1]

    started = time.monotonic()
    with pytest.raises(MailError, match=r"^IMAP 127\.0\.0\.1: "):
        poll(dovecot, handle=handle_then_stop_the_server, timeout_s=10)
    assert time.monotonic() - started < 30
    assert len(calls) == 1 and thread_ids(t) == ["<m1@example.com>", ids[0]]

    r = cli_poll(dovecot, store)                     # the server is down: one clear line
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert r.output.startswith("Error: cannot reach the IMAP server 127.0.0.1:"), r.output

    dovecot.start()                                  # back (on a new port): the mailbox is as it was
    assert dovecot.seen() == {i: False for i in ids}  # the first was taken but never marked seen
    assert poll(dovecot) == {"handled": 3, "refused": 0, "left": 0}
    assert thread_ids(t) == ["<m1@example.com>", *ids] and mail_events(t) == 3   # kept once


def test_a_server_that_stops_answering_is_a_clear_error_within_the_timeout(store, dovecot):
    t = an_order()
    dovecot.append(mail("<r1@example.com>", "Re: 1", "一", in_reply_to="<m1@example.com>"),
                   mail("<r2@example.com>", "Re: 2", "二", in_reply_to="<m1@example.com>"))

    def handle_then_freeze_the_server(raw):
        said = mailin.handle(raw)
        dovecot.freeze()
        return said

    started = time.monotonic()
    with pytest.raises(MailError, match=r"^IMAP 127\.0\.0\.1: .*timed out"):
        poll(dovecot, handle=handle_then_freeze_the_server, timeout_s=2)
    assert time.monotonic() - started < 15
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>"]

    started = time.monotonic()                       # frozen from the start: no greeting
    with pytest.raises(MailError, match="cannot reach the IMAP server 127.0.0.1: .*timed out"):
        poll(dovecot, timeout_s=2)
    assert time.monotonic() - started < 15

    dovecot.thaw()
    wait_for(dovecot._greets, timeout=30, what="dovecot answering again")
    poll(dovecot)
    assert thread_ids(t) == ["<m1@example.com>", "<r1@example.com>", "<r2@example.com>"]
    assert all(dovecot.seen().values())


def test_a_server_that_hangs_up_before_greeting_is_a_clear_error(store):
    """Not Dovecot: a TCP peer that accepts and closes at once (a server at its connection limit,
    a port that is something else); imaplib calls that an IMAP error, not an OSError."""
    import threading
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.settimeout(30)

        def hang_up():
            try:
                srv.accept()[0].close()
            except OSError:
                pass
        th = threading.Thread(target=hang_up, daemon=True)
        th.start()
        r = CliRunner().invoke(cli.main, ["mail", "poll", "--imap", f"127.0.0.1:{srv.getsockname()[1]}",
                                          "--user", USER, "--password-env", "IMAP_PASSWORD", "--plain",
                                          "--db", store], env={"IMAP_PASSWORD": PASSWORD})
        th.join(30)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    assert r.output.strip() == "Error: cannot reach the IMAP server 127.0.0.1: socket error: EOF", r.output
