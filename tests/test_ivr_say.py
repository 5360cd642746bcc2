"""Numbers, amounts, weights and times read as concatenated prompts: a table of readings, and
hypothesis against an independent parser of Chinese numerals; WAV headers are fuzzed."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.ivr import say
from hub.ivr.audio import wav_info
from hub.ivr.errors import IvrError


def text(prompts):
    return "".join(say.BUILTIN_PROMPTS[p] for p in prompts)


@pytest.mark.parametrize("n,reading", [(0, "零"), (7, "七"), (10, "十"), (15, "十五"), (20, "二十"), (101, "一百零一"),
                                       (110, "一百一十"), (1004, "一千零四"), (1010, "一千零一十"), (10000, "一万"),
                                       (10001, "一万零一"), (100000, "十万"), (120000, "十二万"),
                                       (12345678, "一千二百三十四万五千六百七十八"), (100010000, "一亿零一万"),
                                       (200000001, "二亿零一")])
def test_numbers_read_as_they_are_said(n, reading):
    assert text(say.number(n)) == reading


@pytest.mark.parametrize("cents,reading", [(0, "零元"), (5, "五分"), (50, "五角"), (105, "一元零五分"),
                                           (1250, "十二元五角"), (800, "八元"), (10005, "一百元零五分")])
def test_amounts(cents, reading):
    assert text(say.amount(cents)) == reading


def test_waybills_weights_and_times():
    assert text(say.digits("70000000000016")) == "七零零零零零零零零零零零一六"
    assert text(say.weight(2500)) == "二点五公斤" and text(say.weight(1000)) == "一公斤"
    assert text(say.weight(2010)) == "二点一公斤"                  # rounded up to 100 g
    # 2026-10-01 09:05 in +08:00
    assert text(say.time(1790816700000, 480)) == "十月一日九点五分"
    assert text(say.say("amount", "not a number")) == ""           # read as digits: none here
    assert say.say("number", "12") == say.number(12)


DIGIT = {c: i for i, c in enumerate(say.DIGITS)}
UNIT = {"十": 10, "百": 100, "千": 1000}


def parse_chinese(t: str) -> int:
    """An independent reader of Chinese numerals (亿 and 万 sections, 零 as a gap)."""
    total = 0
    for big, mult in (("亿", 10 ** 8), ("万", 10 ** 4)):
        if big in t:
            head, t = t.split(big, 1)
            total += parse_chinese(head) * mult
    section, digit = 0, None
    for ch in t:
        if ch in DIGIT:
            digit = DIGIT[ch]
        elif ch in UNIT:
            section += (1 if digit is None else digit) * UNIT[ch]
            digit = None
    return total + section + (digit or 0)


@given(st.integers(0, 10 ** 12 - 1))
def test_every_number_reads_back_to_itself(n):
    assert parse_chinese(text(say.number(n))) == n


@given(st.integers(0, 10 ** 9))
def test_every_amount_reads_back(cents):
    t = text(say.amount(cents))
    yuan = parse_chinese(t.split("元")[0]) if "元" in t else 0
    rest = t.split("元")[1] if "元" in t else t
    jiao = DIGIT[rest[rest.index("角") - 1]] if "角" in rest else 0
    fen = DIGIT[rest[rest.index("分") - 1]] if "分" in rest else 0
    assert yuan * 100 + jiao * 10 + fen == cents


def wav(tag=6, rate=8000, channels=1, bits=8, data=b"\xd5" * 80):
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_headers():
    i = wav_info(wav())
    assert i.is_prompt and i.duration_ms == 10
    assert not wav_info(wav(tag=1, bits=16, rate=22050)).is_prompt
    with pytest.raises(IvrError, match="not a WAV"):
        wav_info(b"hello")


@given(st.binary(max_size=120) | st.builds(lambda w, cut: w[:cut], st.just(wav()), st.integers(0, 130)))
def test_any_bytes_are_a_wav_or_one_clear_error(data):
    try:
        wav_info(data)
    except IvrError:
        pass


@given(st.text(max_size=60))
def test_any_phone_field_gives_normalised_numbers_or_none(text):
    from contract.phone import e164, numbers_in
    for n in numbers_in(text):
        assert n.startswith("+") and n[1:].isdigit() and n[1:].isascii() and e164(n) == n
