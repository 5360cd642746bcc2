"""Waybill number rules as data: patterns, lengths, prefixes and check-digit schemes.

A network's rules are a list of dicts (from the hub's network file, pushed to every edge and gun)::

    {"name": "zt14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}
    {"name": "yt", "prefixes": ["YT"], "lengths": [15], "check": "none"}

A number is valid when at least one rule accepts it.  ``validate`` returns ``None`` for a valid
number, else each rule's technical reason; ``refusal`` says the same in an operator's words, from
each rule's optional ``description`` or what its pattern, prefixes and lengths describe
("14 digits starting with 7").

Check schemes (the last character is the check character unless stated):

``none``      no check character.
``mod10-31``  weights 3,1,3,1… from the right over the body (EAN/UPC style).
``mod10-13``  weights 1,3,1,3… from the right (alternate EAN layout some carriers use).
``luhn``      Luhn mod 10.
``mod11``     weights 2..7 cycling from the right; 10 -> "X", 11 -> "0" (UPU S10 uses mod11-s10).
``mod11-s10`` UPU S10 identifiers ``AA nnnnnnnn C BB``: weights 8,6,4,2,3,5,9,7 on the 8 serial
              digits, 10 -> 0, 11 -> 5; the check digit is the 11th character, before the
              country code (``make`` takes the number without it: ``RR47312482GB``).
``mod43``     Code 39 mod 43 over the Code 39 character set.
``mod103``    Code 128 set B: (104 + sum(value * position)) mod 103, check as the set-B character.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from contract.errors import RuleError

CODE39_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
# mod103 values 95..102 are Code 128 control codes: no printable check character exists
NO_PRINTABLE_CHECK = "\x00"


def _digits(body: str) -> list[int] | None:
    return [int(c) for c in body] if body.isdigit() else None


def _mod10_weighted(body: str, right_weight: int) -> str | None:
    ds = _digits(body)
    if ds is None:
        return None
    other = 1 if right_weight == 3 else 3
    total = sum(d * (right_weight if i % 2 == 0 else other) for i, d in enumerate(reversed(ds)))
    return str((10 - total % 10) % 10)


def _luhn(body: str) -> str | None:
    ds = _digits(body)
    if ds is None:
        return None
    total = 0
    for i, d in enumerate(reversed(ds)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _mod11(body: str) -> str | None:
    ds = _digits(body)
    if ds is None:
        return None
    total = sum(d * (2 + i % 6) for i, d in enumerate(reversed(ds)))
    r = 11 - total % 11
    return {10: "X", 11: "0"}.get(r, str(r))


def _mod11_s10(body: str) -> str | None:
    serial = body[-8:]
    ds = _digits(serial)
    if ds is None or len(ds) != 8:
        return None
    total = sum(d * w for d, w in zip(ds, (8, 6, 4, 2, 3, 5, 9, 7)))
    r = 11 - total % 11
    return {10: "0", 11: "5"}.get(r, str(r))


def _mod43(body: str) -> str | None:
    if any(c not in CODE39_CHARSET for c in body):
        return None
    return CODE39_CHARSET[sum(CODE39_CHARSET.index(c) for c in body) % 43]


def _mod103(body: str) -> str | None:
    if any(not (32 <= ord(c) <= 126) for c in body):
        return None
    total = 104 + sum((ord(c) - 32) * (i + 1) for i, c in enumerate(body))
    return chr(total % 103 + 32) if total % 103 < 95 else NO_PRINTABLE_CHECK



CHECKS = {
    "mod10-31": lambda b: _mod10_weighted(b, 3),
    "mod10-13": lambda b: _mod10_weighted(b, 1),
    "luhn": _luhn,
    "mod11": _mod11,
    "mod11-s10": _mod11_s10,
    "mod43": _mod43,
    "mod103": _mod103,
}


def check_character(scheme: str, body: str) -> str | None:
    """The check character ``scheme`` gives for ``body``; ``None`` if body has foreign characters."""
    try:
        return CHECKS[scheme](body)
    except KeyError:
        raise RuleError(f"unknown check scheme {scheme!r} (known: none, {', '.join(CHECKS)})")


@dataclass(frozen=True)
class WaybillRule:
    name: str
    pattern: str | None = None
    prefixes: tuple[str, ...] = ()
    lengths: tuple[int, ...] = ()
    check: str = "none"
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)
    description: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "WaybillRule":
        if not isinstance(d, dict) or not d.get("name"):
            raise RuleError(f"a waybill rule needs a name: {d!r}")
        unknown = set(d) - {"name", "pattern", "prefixes", "lengths", "check", "description"}
        if unknown:
            raise RuleError(f"waybill rule {d['name']!r}: unknown keys {sorted(unknown)}")
        check = d.get("check", "none")
        if check != "none" and check not in CHECKS:
            raise RuleError(f"waybill rule {d['name']!r}: unknown check scheme {check!r}")
        pattern = d.get("pattern")
        try:
            regex = re.compile(pattern) if pattern else None
        except re.error as e:
            raise RuleError(f"waybill rule {d['name']!r}: bad pattern {pattern!r}: {e}") from e
        lengths = tuple(int(n) for n in d.get("lengths", ()))
        if not (pattern or d.get("prefixes") or lengths):
            raise RuleError(f"waybill rule {d['name']!r} needs a pattern, prefixes or lengths")
        desc = d.get("description")
        return cls(d["name"], pattern, tuple(d.get("prefixes", ())), lengths, check, regex,
                   str(desc) if desc else None)

    def to_dict(self) -> dict:
        out = {"name": self.name, "check": self.check}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.prefixes:
            out["prefixes"] = list(self.prefixes)
        if self.lengths:
            out["lengths"] = list(self.lengths)
        if self.description:
            out["description"] = self.description
        return out

    def describe(self) -> str:
        """What a number of this rule looks like, in words an operator understands: the rule's
        ``description`` when it has one, else read from its lengths, prefixes and pattern
        (``^7[0-9]{13}$`` -> "14 digits starting with 7")."""
        if self.description:
            return self.description
        words = []
        if self.lengths:
            words.append(f"{' or '.join(str(n) for n in self.lengths)} characters")
        if self.prefixes:
            words.append(f"starting with {' or '.join(self.prefixes)}")
        if self._regex is not None:
            shape = describe_pattern(self.pattern)
            if shape:
                words = [shape]
        return " ".join(words) or f"{'an' if self.name[:1].lower() in 'aeiou' else 'a'} {self.name} number"

    def reason(self, number: str) -> str | None:
        """Why this rule refuses ``number``; None when it accepts it."""
        if self.lengths and len(number) not in self.lengths:
            want = "/".join(str(n) for n in self.lengths)
            return f"length {len(number)}, {self.name} needs {want}"
        if self.prefixes and not number.startswith(self.prefixes):
            return f"prefix must be one of {', '.join(self.prefixes)} for {self.name}"
        if self._regex is not None and not self._regex.fullmatch(number):
            return f"does not match {self.name} pattern {self.pattern}"
        if self.check == "mod11-s10":
            if len(number) != 13:
                return "an S10 identifier has 13 characters (AA nnnnnnnn C BB)"
            want = check_character("mod11-s10", number[2:10])
            if want is None:
                return "S10 serial must be 8 digits"
            if number[10] != want:
                return f"check digit {number[10]!r} wrong (mod11-s10 gives {want!r})"
        elif self.check != "none":
            if len(number) < 2:
                return f"too short for a {self.check} check character"
            want = check_character(self.check, number[:-1])
            if want is None:
                return f"characters not allowed by {self.check}"
            if want == NO_PRINTABLE_CHECK:
                return f"{self.check} check value has no printable character for this number"
            if number[-1] != want:
                return f"check character {number[-1]!r} wrong ({self.check} gives {want!r})"
        return None


class WaybillRules:
    """The set of rules of one network."""

    def __init__(self, rules: list[dict] | list[WaybillRule]):
        self.rules = [r if isinstance(r, WaybillRule) else WaybillRule.from_dict(r) for r in rules]

    def validate(self, number: str) -> str | None:
        """None when some rule accepts ``number``, else a one-line reason."""
        if not isinstance(number, str) or not number:
            return "empty waybill number"
        if not number.isprintable() or number != number.strip():
            return "waybill number has control or blank characters"
        if not self.rules:
            return None
        reasons = []
        for rule in self.rules:
            why = rule.reason(number)
            if why is None:
                return None
            reasons.append(why)
        if len(reasons) == 1:
            return f"invalid waybill {number}: {reasons[0]}"
        return f"invalid waybill {number}: matches no rule ({'; '.join(reasons)})"

    def refusal(self, number: str) -> str | None:
        """Like :meth:`validate`, in an operator's words: ``None`` for a valid number, else e.g.
        "not a waybill number: 14 digits starting with 7 expected", or, when the shape fits but
        the check character does not, that the number was misread or mistyped."""
        if self.validate(number) is None:
            return None
        if not isinstance(number, str) or not number:
            return "empty waybill number"
        if not number.isprintable() or number != number.strip():
            return "not a waybill number: it holds control characters or blanks"
        if any(self._shape_fits(r, number) for r in self.rules):
            return (f"waybill {number}: check digit wrong (misread or mistyped); "
                    "scan it again or type it carefully")
        expected = " or ".join(dict.fromkeys(r.describe() for r in self.rules))
        return f"not a waybill number: {expected} expected"

    @staticmethod
    def _shape_fits(rule: "WaybillRule", number: str) -> bool:
        return (not (rule.lengths and len(number) not in rule.lengths)
                and not (rule.prefixes and not number.startswith(rule.prefixes))
                and not (rule._regex is not None and not rule._regex.fullmatch(number)))

    def make(self, rule_name: str, body: str) -> str:
        """Append the check character of ``rule_name`` to ``body`` (for simulators and tests)."""
        rule = next((r for r in self.rules if r.name == rule_name), None)
        if rule is None:
            raise RuleError(f"no waybill rule named {rule_name!r}")
        if rule.check == "none":
            return body
        if rule.check == "mod11-s10":
            ch = check_character("mod11-s10", body[2:10])
            if ch is None or len(body) != 12:
                raise RuleError(f"{body!r} is not an S10 identifier without its check digit")
            return body[:10] + ch + body[10:]
        ch = check_character(rule.check, body)
        if ch is None or ch == NO_PRINTABLE_CHECK:
            raise RuleError(f"{body!r} has no printable {rule.check} check character")
        return body + ch


_CLASS_WORDS = {"digit": ("digit", "digits"), "letter": ("letter", "letters"),
                "alnum": ("letter or digit", "letters or digits"), "any": ("character", "characters")}


def _item_class(op, av) -> tuple[str, str | None] | None:
    """(class, literal) of one parsed regex item matching one character; None if not simple."""
    from re import _constants as c
    if op is c.LITERAL:
        ch = chr(av)
        return ("digit" if ch.isdigit() else "letter" if ch.isalpha() else "any"), ch
    if op is c.IN:
        kinds = set()
        for sub_op, sub_av in av:
            if sub_op is c.CATEGORY and sub_av is c.CATEGORY_DIGIT:
                kinds.add("digit")
            elif sub_op is c.RANGE:
                lo, hi = chr(sub_av[0]), chr(sub_av[1])
                kinds.add("digit" if lo.isdigit() and hi.isdigit() else "letter" if lo.isalpha() and hi.isalpha() else "any")
            elif sub_op is c.LITERAL:
                ch = chr(sub_av)
                kinds.add("digit" if ch.isdigit() else "letter" if ch.isalpha() else "any")
            else:
                return None
        if kinds == {"digit"}:
            return "digit", None
        if kinds == {"letter"}:
            return "letter", None
        return ("alnum" if kinds <= {"digit", "letter"} else "any"), None
    if op is c.ANY:
        return "any", None
    return None


def describe_pattern(pattern: str) -> str | None:
    """A simple anchored pattern in words (``^7[0-9]{13}$`` -> "14 digits starting with 7",
    ``^[A-Z]{2}[0-9]{9}[A-Z]{2}$`` -> "2 letters, 9 digits, 2 letters"); None when it is not
    a plain sequence of characters and counted classes."""
    from re import _constants as c
    from re import _parser
    try:
        items = list(_parser.parse(pattern))
    except Exception:
        return None
    runs: list[list] = []               # [class, min, max, literal text or None]
    for op, av in items:
        if op is c.AT:
            continue
        lo = hi = 1
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            lo, hi, sub = av
            if len(sub) != 1 or hi is c.MAXREPEAT:
                return None
            op, av = list(sub)[0]
        got = _item_class(op, av)
        if got is None:
            return None
        cls, lit = got
        if lit is not None and lo == hi:
            lit = lit * lo
        else:
            lit = None
        prev = runs[-1] if runs else None
        if prev and prev[0] == cls and (prev[3] is None) == (lit is None):
            prev[1] += lo
            prev[2] += hi
            prev[3] = prev[3] + lit if lit is not None else None
        else:
            runs.append([cls, lo, hi, lit])
    if not runs:
        return None

    def count(lo, hi):
        return str(lo) if lo == hi else f"{lo} to {hi}"
    total_lo, total_hi = sum(r[1] for r in runs), sum(r[2] for r in runs)
    prefix = ""
    while runs and runs[0][3] is not None:
        prefix += runs.pop(0)[3]
    classes = {r[0] for r in runs} | ({"digit"} if prefix.isdigit() else {"letter"} if prefix.isalpha() else {"any"} if prefix else set())
    if len(classes) == 1:
        name = _CLASS_WORDS[classes.pop()][1]
        return f"{count(total_lo, total_hi)} {name}" + (f" starting with {prefix}" if prefix else "")
    parts = [f"{count(r[1], r[2])} {_CLASS_WORDS[r[0]][0 if r[1] == r[2] == 1 else 1]}" if r[3] is None else r[3]
             for r in runs]
    return (f"{prefix} then " if prefix else "") + ", ".join(parts)
