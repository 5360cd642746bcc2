"""Reading numbers, waybills, amounts, weights and times as concatenated prompts (Mandarin).

Every function returns prompt ids (``digit/7``, ``num/bai``, ``unit/yuan`` …) whose texts are
``BUILTIN_PROMPTS``; ``scanhub ivr prompts`` makes their audio once, and a reading is the files
played one after the other.  Pure functions.

* ``digits("7012")``: one prompt per character (a waybill, a phone number): 七 零 一 二.
* ``number(1204)``: the number as it is said: 一千二百零四; ``number(10)`` 十, ``number(0)`` 零.
* ``amount(1250)`` (cents): 十二 元 五 角; ``weight(2500)`` (grams): 二 点 五 公斤.
* ``time(ms, tz)``: 十月 一日 九点 五分 in the zone (month, day, hour, minute).
"""
from __future__ import annotations

import datetime as dt

DIGITS = "零一二三四五六七八九"
DIGITS_KEYS = "0123456789*#"       # the keys of a telephone keypad
BUILTIN_PROMPTS: dict[str, str] = {f"digit/{i}": DIGITS[i] for i in range(10)}
BUILTIN_PROMPTS.update({"digit/star": "星号", "digit/pound": "井号", "digit/point": "点",
                        "num/shi": "十", "num/bai": "百", "num/qian": "千", "num/wan": "万", "num/yi": "亿",
                        "num/liang": "两",
                        "unit/yuan": "元", "unit/jiao": "角", "unit/fen": "分", "unit/kg": "公斤",
                        "unit/month": "月", "unit/day": "日", "unit/hour": "点", "unit/minute": "分"})


def digits(text: str) -> list[str]:
    """One prompt per digit (``*`` and ``#`` too); other characters are skipped."""
    out = []
    for ch in str(text):
        if ch.isdigit() and ch.isascii():
            out.append(f"digit/{ch}")
        elif ch == "*":
            out.append("digit/star")
        elif ch == "#":
            out.append("digit/pound")
    return out


def _below_10000(n: int, leading: bool) -> list[str]:
    """1..9999 as said; ``leading``: the first group of the number (十二, not 一十二)."""
    out: list[str] = []
    units = [(1000, "num/qian"), (100, "num/bai"), (10, "num/shi"), (1, None)]
    zero = False
    started = False
    for value, unit in units:
        d = n // value % 10
        if d == 0:
            if started:
                zero = True
            continue
        if zero:
            out.append("digit/0")
            zero = False
        if not (d == 1 and value == 10 and not started and leading):
            out.append(f"digit/{d}")
        if unit:
            out.append(unit)
        started = True
    return out


def number(n: int) -> list[str]:
    """A whole number 0 … 10**12 - 1 as it is said in Mandarin."""
    n = int(n)
    if n < 0:
        raise ValueError("number: only whole numbers from 0")
    if n == 0:
        return ["digit/0"]
    if n >= 10 ** 12:
        return digits(str(n))
    groups = [(n // 10 ** 8, "num/yi"), (n // 10 ** 4 % 10 ** 4, "num/wan"), (n % 10 ** 4, None)]
    out: list[str] = []
    started = False
    pending_zero = False
    for value, unit in groups:
        if value == 0:
            if started:
                pending_zero = True
            continue
        if started and (pending_zero or value < 1000):
            out.append("digit/0")
        out += _below_10000(value, leading=not started)
        if unit:
            out.append(unit)
        started = True
        pending_zero = False
    return out


def amount(cents: int) -> list[str]:
    """Money: yuan, then jiao and fen when there are any (一元零五分 is read 一 元 零 五 分)."""
    cents = int(cents)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    out = number(yuan) + ["unit/yuan"] if yuan or not (jiao or fen) else []
    if jiao:
        out += [f"digit/{jiao}", "unit/jiao"]
    if fen:
        if yuan and not jiao:
            out.append("digit/0")
        out += [f"digit/{fen}", "unit/fen"]
    return out


def weight(grams: int) -> list[str]:
    """Kilograms with one decimal (rounded up to 100 g): 二 点 五 公斤."""
    tenths = -(-int(grams) // 100)
    out = number(tenths // 10)
    if tenths % 10:
        out += ["digit/point", f"digit/{tenths % 10}"]
    return out + ["unit/kg"]


def time(ms: int, tz_offset_min: int) -> list[str]:
    """Month, day, hour and minute of UTC epoch ``ms`` in the zone (no year, no seconds)."""
    t = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(ms), minutes=tz_offset_min)
    out = number(t.month) + ["unit/month"] + number(t.day) + ["unit/day"] + number(t.hour) + ["unit/hour"]
    if t.minute:
        out += number(t.minute) + ["unit/minute"]
    return out


def date(ms: int, tz_offset_min: int) -> list[str]:
    t = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(ms), minutes=tz_offset_min)
    return number(t.month) + ["unit/month"] + number(t.day) + ["unit/day"]


def say(kind: str, value: str, tz_offset_min: int = 480) -> list[str]:
    """A flow's ``{say: KIND, …}`` item as prompts; a value that is not a number of that kind is
    read digit by digit (never an error in the middle of a call)."""
    v = str(value).strip()
    if kind == "digits" or not v.isdigit() or not v.isascii():
        return digits(v)
    n = int(v)
    if kind in ("time", "date"):
        return (time if kind == "time" else date)(n, tz_offset_min)
    return {"number": number, "amount": amount, "weight": weight}[kind](n)
