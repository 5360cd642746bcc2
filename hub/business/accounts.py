"""Prepaid settlement (docs/hub-business.md, "Prepaid settlement"): a bank-like account for every site under its opening center.

* ``deposit`` (a top-up, from the outside world through the opening center's ``external:`` account),
  ``transfer`` between sites (across opening centers the money moves through the centers'
  ``clearing:`` accounts, so each center sees its position toward the others), ``statement`` with
  running balance.
* Per site: ``mode`` ``prepaid`` (fees are paid from the balance) or ``next-day`` (the traditional
  settlement: fees accrue and are settled the next day; never blocked), and a ``warning`` amount.
* A prepaid site whose balance is under its warning amount is **blocked**: ``Site.blocked`` is set
  and the data version bumped, so every station's configuration carries it (``blocked_sites``):
  centers' edges refuse arrival scans of its parcels, and it may not create freight-collect or COD
  waybills, offline too.  Any booking that lifts the balance back lifts the block.  The flag is
  derived from the balance, never toggled by hand, so it cannot drift.

All amounts are integer cents; ``parse_amount`` reads what people type, in yuan, for the CLI:
``1200``, ``99.50``, or with thousands grouped by commas, ``1,200.50``.  A comma anywhere else
(``1,5``: a decimal comma?) is refused, never guessed.  One entry is at most
``MAX_AMOUNT_CENTS`` (100 million yuan); above ``LARGE_AMOUNT_CENTS`` (100,000 yuan) the CLI asks
for a confirmation (``--yes``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import peewee as pw

from hub.errors import HubError
from hub.network import basic_data
from hub.business import ledger
from hub.business import tables as bm
from hub.network import tables as net
from hub.store.db import database
from hub.store.meta import get_meta, set_meta

MODES = ("prepaid", "next-day")
_AMOUNT = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")
_GROUPED = re.compile(r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]{1,2})?$")
MAX_AMOUNT_CENTS = 100_000_000_00         # 100 million yuan: no single booking is larger
LARGE_AMOUNT_CENTS = 100_000_00           # 100,000 yuan: the CLI asks before booking more


class AccountError(HubError, ValueError):
    """An account operation that cannot be done (unknown site, bad amount, bad mode)."""


class InsufficientFunds(AccountError):
    """A prepaid site would go below zero."""


class SiteBlocked(AccountError):
    """The site is blocked: its balance is under the warning amount."""


def parse_amount(text: str, allow_zero: bool = False) -> int:
    """Yuan as typed (``"12"``, ``"12.50"``, ``"1,200.50"``) -> cents; ``AccountError`` with a
    reason in yuan for anything else: signs, zero (unless ``allow_zero``), a third decimal, a
    comma that does not group thousands, more than ``MAX_AMOUNT_CENTS``."""
    raw = str(text).strip()
    if raw.startswith("-") and _AMOUNT.match(raw[1:].replace(",", "")):
        raise AccountError(f"amount must be positive: {raw} yuan")
    t = raw
    if "," in t:
        if not _GROUPED.match(t):
            raise AccountError(f"bad amount {text!r}: a comma may only group thousands (1,200 or 1,200.50); "
                               "decimals take a point")
        t = t.replace(",", "")
    if not _AMOUNT.match(t):
        raise AccountError(f"bad amount {text!r}: use yuan with at most two decimals, e.g. 1200 or 99.50")
    try:
        cents = int(Decimal(t) * 100)
    except InvalidOperation as e:  # pragma: no cover - the regexp already filters
        raise AccountError(f"bad amount {text!r}") from e
    if cents == 0 and not allow_zero:
        raise AccountError(f"amount must be positive: {raw} yuan")
    if cents > MAX_AMOUNT_CENTS:
        raise AccountError(f"amount {format_cents(cents)} yuan is over the limit of "
                           f"{format_cents(MAX_AMOUNT_CENTS)} yuan for one booking")
    return cents


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _site(code: str) -> net.Site:
    s = net.Site.get_or_none(net.Site.code == code)
    if s is None:
        raise AccountError(f"unknown site {code}")
    return s


def account(code: str) -> bm.Account:
    """The account settings of site ``code`` (created with defaults on first use)."""
    s = _site(code)
    a = bm.Account.get_or_none(bm.Account.site == code)
    if a is None:
        bm.Account.insert(site=code, opening_center=s.center if s.kind == "site" else code).on_conflict_ignore().execute()
        a = bm.Account.get(bm.Account.site == code)
    return a


def ensure_accounts() -> int:
    """Create default account settings for every site that has none.  Returns how many were made."""
    have = {a.site for a in bm.Account.select(bm.Account.site)}
    rows = [{"site": s.code, "opening_center": s.center if s.kind == "site" else s.code}
            for s in net.Site.select() if s.code not in have]
    for i in range(0, len(rows), 500):
        bm.Account.insert_many(rows[i:i + 500]).execute()
    return len(rows)


def balance(code: str) -> int:
    return ledger.balance(f"site:{code}")


def _positive(cents: int) -> int:
    if isinstance(cents, bool) or not isinstance(cents, int) or cents <= 0:
        shown = f"{format_cents(cents)} yuan" if isinstance(cents, int) and not isinstance(cents, bool) else repr(cents)
        raise AccountError(f"amount must be positive, got {shown}")
    return cents


def _ref(ref: str) -> str:
    ref = (ref or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_.\-:/]{1,80}", ref):
        raise AccountError("a reference (slip or transfer number: letters, digits, _ . - : /) is required")
    return ref


def deposit(code: str, cents: int, ref: str, memo: str = "") -> bool:
    """Top up ``code`` by ``cents``; ``ref`` (the slip number) makes a replay a no-op.

    Returns False when the same deposit was already booked."""
    cents, ref = _positive(cents), _ref(ref)
    a = account(code)
    with database.atomic():
        e = ledger.post(f"deposit:{ref}", {f"site:{code}": cents, f"external:{a.opening_center or code}": -cents},
                        purpose="deposit", memo=memo or f"deposit {ref}")
        update_blocks({code})
    return e is not None


def transfer(src: str, dst: str, cents: int, ref: str, memo: str = "") -> bool:
    """Move ``cents`` from site ``src`` to ``dst`` (also across opening centers).

    A prepaid site may not go below zero (``InsufficientFunds``).  Returns False on a replay."""
    cents, ref = _positive(cents), _ref(ref)
    if src == dst:
        raise AccountError("transfer to the same site")
    a, b = account(src), account(dst)
    lines = {f"site:{src}": -cents, f"site:{dst}": cents}
    ca, cb = a.opening_center or src, b.opening_center or dst
    if ca != cb:
        lines[f"clearing:{ca}"] = cents     # the sender's center holds money it owes onward
        lines[f"clearing:{cb}"] = -cents    # the receiver's center is owed it
    source = f"transfer:{ref}"
    with database.atomic():
        if not ledger.active_lines(source) and a.mode == "prepaid" and balance(src) - cents < 0:
            raise InsufficientFunds(f"site {src} has {format_cents(balance(src))} yuan, "
                                    f"cannot transfer {format_cents(cents)} yuan")
        e = ledger.post(source, lines, purpose="transfer", memo=memo or f"transfer {src} -> {dst} ({ref})")
        update_blocks({src, dst})
    return e is not None


def correct(source: str, memo: str) -> bool:
    """Reverse a booked deposit or transfer (corrections are reversing entries, never deletions)."""
    if not source.startswith(("deposit:", "transfer:")):
        raise AccountError("only deposit:<ref> and transfer:<ref> entries are corrected by hand; "
                           "fees follow the scans")
    with database.atomic():
        lines = ledger.active_lines(source)
        e = ledger.reverse(source, memo)
        update_blocks({a.split(":", 1)[1] for a in lines if a.startswith("site:")})
    return e is not None


def set_warning(code: str, cents: int) -> None:
    if isinstance(cents, bool) or not isinstance(cents, int) or cents < 0:
        raise AccountError("the warning amount must be 0 yuan or more")
    account(code)
    with database.atomic():
        bm.Account.update(warning_cents=cents).where(bm.Account.site == code).execute()
        update_blocks({code})


def set_mode(code: str, mode: str, cod_via_prepaid: bool | None = None) -> None:
    if mode not in MODES:
        raise AccountError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    account(code)
    with database.atomic():
        upd = {"mode": mode}
        if cod_via_prepaid is not None:
            upd["cod_via_prepaid"] = cod_via_prepaid
        bm.Account.update(**upd).where(bm.Account.site == code).execute()
        update_blocks({code})


def should_block(mode: str, warning_cents: int, balance_cents: int, expected_cents: int = 0) -> bool:
    """The rule: a prepaid site whose balance, less the fees its parcels in flight will still
    cost (``expected_cents``), is under its warning amount is blocked."""
    return mode == "prepaid" and balance_cents - expected_cents < warning_cents


#: the station hears "blocked in about N parcels" from this many parcels on
WARN_PARCELS = 20
#: Meta key counting changes of the slices' ``prepaid`` part (``hub.ingest.service`` watches it)
PREPAID_VERSION = "prepaid_version"


def expected(codes: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
    """``{site: (expected cents, parcels in flight)}``: the fees the parcels in flight will still
    cost each origin site (``ExpectedFee``, derived with the fees)."""
    X = bm.ExpectedFee
    q = X.select(X.site, pw.fn.SUM(X.cents), pw.fn.COUNT(X.waybill)).group_by(X.site)
    if codes is not None:
        q = q.where(X.site.in_(sorted(set(codes))))
    return {site: (int(total or 0), int(n)) for site, total, n in q.tuples()}


def parcels_left(mode: str, warning_cents: int, balance_cents: int, expected_cents: int, in_flight: int) -> int | None:
    """About how many more parcels like those in flight a prepaid site can send before it is
    blocked (None: not prepaid, or nothing in flight to judge by)."""
    if mode != "prepaid" or not in_flight or expected_cents <= 0:
        return None
    headroom = balance_cents - expected_cents - warning_cents
    return max(0, headroom * in_flight // expected_cents) if headroom >= 0 else 0


def update_blocks(codes: Iterable[str]) -> set[str]:
    """Re-derive ``Site.blocked`` for ``codes``; bump the data version when any flag changed.

    A site whose settings were never written is judged by the defaults it would get (prepaid,
    warning amount 0): the same answer ``set-mode`` or ``set-warning`` would later give it."""
    codes = sorted(set(codes))
    if not codes:
        return set()
    changed, near = set(), False
    accts = {a.site: a for a in bm.Account.select().where(bm.Account.site.in_(codes))}
    ahead = expected(codes)
    for s in net.Site.select().where(net.Site.code.in_(codes)):
        a = accts.get(s.code)
        mode = a.mode if a else bm.Account.mode.default
        warning = a.warning_cents if a else bm.Account.warning_cents.default
        exp, n = ahead.get(s.code, (0, 0))
        bal = balance(s.code)
        want = should_block(mode, warning, bal, exp)
        if bool(s.blocked) != want:
            net.Site.update(blocked=want).where(net.Site.code == s.code).execute()
            changed.add(s.code)
        left = None if want else parcels_left(mode, warning, bal, exp, n)
        shown = str(left) if left is not None and left <= WARN_PARCELS else ""
        if (get_meta(f"parcels_left:{s.code}") or "") != shown:      # what the station shows
            set_meta(f"parcels_left:{s.code}", shown)
            near = True
    if changed:
        basic_data.bump_data_version()
    if near:            # no basic data changed, but a station slice did: the hub republishes them
        set_meta(PREPAID_VERSION, str(int(get_meta(PREPAID_VERSION, "0") or 0) + 1))
    return changed


def check_can_create(code: str, what: str) -> None:
    """Raise ``SiteBlocked`` if site ``code`` may not create a ``what`` (freight-collect/COD) waybill."""
    s = _site(code)
    if s.blocked:
        raise SiteBlocked(f"site {code} is blocked (balance under its warning amount): no {what} waybills until it tops up")


def summary() -> list[dict]:
    """Every site's account: balance, mode, warning, blocked."""
    ensure_accounts()
    bal = ledger.balances("site:")
    ahead = expected()
    blocked = {s.code: s.blocked for s in net.Site.select(net.Site.code, net.Site.blocked)}
    out = []
    for a in bm.Account.select().order_by(bm.Account.site):
        booked = bal.get(f"site:{a.site}", 0)
        exp, n = ahead.get(a.site, (0, 0))
        out.append({"site": a.site, "opening_center": a.opening_center, "mode": a.mode,
                    "warning_cents": a.warning_cents, "balance_cents": booked, "expected_fees_cents": exp,
                    "expected_balance_cents": booked - exp, "in_flight": n,
                    "parcels_left": parcels_left(a.mode, a.warning_cents, booked, exp, n),
                    "blocked": bool(blocked.get(a.site)), "cod_via_prepaid": a.cod_via_prepaid})
    return out


def statement(code: str, since_ms: int | None = None, until_ms: int | None = None) -> dict:
    """Bank-like statement of site ``code`` (see ``ledger.statement``)."""
    _site(code)
    return ledger.statement(f"site:{code}", since_ms, until_ms)
