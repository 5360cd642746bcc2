"""Keyboard layouts as data: HID usage (page 0x07) -> character, per modifier level.

Each layout maps a usage id to a tuple ``(plain, shift[, altgr])``; a ``None`` entry means the key
types nothing printable on that level; a string starting with ``"dead:"`` is a dead key (it types
its accent only when followed by Space).  Layouts list only what differs from ``us``.
"""
from __future__ import annotations

_LETTERS = {4 + i: (c, c.upper()) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}

US = {
    **_LETTERS,
    **{30 + i: (d, s) for i, (d, s) in enumerate(zip("1234567890", "!@#$%^&*()"))},
    44: (" ", " "), 45: ("-", "_"), 46: ("=", "+"), 47: ("[", "{"), 48: ("]", "}"), 49: ("\\", "|"),
    50: ("\\", "|"), 51: (";", ":"), 52: ("'", '"'), 53: ("`", "~"), 54: (",", "<"), 55: (".", ">"),
    56: ("/", "?"), 100: ("\\", "|"),
}

UK = {**US, 31: ("2", '"'), 32: ("3", "£"), 50: ("#", "~"), 52: ("'", "@"), 53: ("`", "¬"),
      100: ("\\", "|")}

DE = {
    **US,
    28: ("z", "Z"), 29: ("y", "Y"), 20: ("q", "Q", "@"), 8: ("e", "E", "€"),
    30: ("1", "!"), 31: ("2", '"', "²"), 32: ("3", "§", "³"), 33: ("4", "$"), 34: ("5", "%"),
    35: ("6", "&"), 36: ("7", "/", "{"), 37: ("8", "(", "["), 38: ("9", ")", "]"),
    39: ("0", "=", "}"), 45: ("ß", "?", "\\"), 46: ("dead:´", "dead:`"), 47: ("ü", "Ü"),
    48: ("+", "*", "~"), 49: ("#", "'"), 50: ("#", "'"), 51: ("ö", "Ö"), 52: ("ä", "Ä"),
    53: ("dead:^", "°"), 54: (",", ";"), 55: (".", ":"), 56: ("-", "_"), 100: ("<", ">", "|"),
}

FR = {
    **US,
    4: ("q", "Q"), 20: ("a", "A"), 26: ("z", "Z"), 29: ("w", "W"), 51: ("m", "M"), 16: (",", "?"),
    8: ("e", "E", "€"),
    30: ("&", "1"), 31: ("é", "2", "dead:~"), 32: ('"', "3", "#"), 33: ("'", "4", "{"),
    34: ("(", "5", "["), 35: ("-", "6", "|"), 36: ("è", "7", "dead:`"), 37: ("_", "8", "\\"),
    38: ("ç", "9", "^"), 39: ("à", "0", "@"), 45: (")", "°", "]"), 46: ("=", "+", "}"),
    47: ("dead:^", "dead:¨"), 48: ("$", "£", "¤"), 49: ("*", "µ"), 50: ("*", "µ"), 52: ("ù", "%"),
    53: ("²", None), 54: (";", "."), 55: (":", "/"), 56: ("!", "§"), 100: ("<", ">"),
}

LAYOUTS = {"us": US, "uk": UK, "de": DE, "fr": FR}

# Keypad (page 0x07): usage -> character with Num Lock on.
KEYPAD = {0x54: "/", 0x55: "*", 0x56: "-", 0x57: "+", 0x59: "1", 0x5A: "2", 0x5B: "3", 0x5C: "4",
          0x5D: "5", 0x5E: "6", 0x5F: "7", 0x60: "8", 0x61: "9", 0x62: "0", 0x63: "."}
KEYPAD_ALWAYS = {0x54, 0x55, 0x56, 0x57}     # typed whatever the Num Lock state

# Ctrl + key -> control character (how guns send GS, RS, EOT for GS1 data).
CTRL = {**{4 + i: chr(1 + i) for i in range(26)}, 47: "\x1b", 49: "\x1c", 48: "\x1d", 35: "\x1e",
        45: "\x1f"}
