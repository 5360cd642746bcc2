"""docs/kb.md and docs/sms.md say what the code does: every command and option, the template
table, the policy defaults, the modem set-up, the names and paths they mention."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import pytest

from cli import main
from drivers.gsm_modem.modem import SETUP
from hub.kb.articles import BUILTIN_CATEGORIES
from hub.sms import templates
from hub.sms.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
DOCS = {name: (ROOT / "docs" / name).read_text(encoding="utf-8") for name in ("kb.md", "sms.md")}


def subcommands(group: str):
    g = main.get_command(click.Context(main), group)
    ctx = click.Context(g)
    return [(n, g.get_command(ctx, n)) for n in g.list_commands(ctx)]


@pytest.mark.parametrize("group,doc", [("kb", "kb.md"), ("sms", "sms.md")])
def test_every_command_and_option_is_in_the_doc(group, doc):
    text = DOCS[doc]
    for name, cmd in subcommands(group):
        assert f"scanhub {group} {name}" in text, f"docs/{doc} does not show `scanhub {group} {name}`"
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name not in ("help", "db", "fmt", "as_json"):
                assert any(o in text for o in p.opts + p.secondary_opts), f"docs/{doc}: {group} {name} {p.opts[0]}"


def test_the_category_table_is_the_code():
    rows = re.findall(r"\| `([\w-]+)` \| ([^|]+?) \|", DOCS["kb.md"])
    assert sorted((c, n.strip()) for c, n in rows) == sorted(BUILTIN_CATEGORIES)


def test_the_template_table_is_the_builtin_templates():
    section = DOCS["sms.md"].split("## Templates")[1].split("## The policy")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, re.M))
    assert set(rows) == set(templates.BUILTIN)
    for name, (body, _) in templates.BUILTIN.items():
        documented = re.findall(r"`(\w+)`", rows[name])
        assert documented == [f for f in templates.fields(body) if f != "network"], name


def test_the_policy_defaults_are_the_code():
    p, text = Policy(), DOCS["sms.md"]
    assert f"| quiet hours | {p.quiet_start}-{p.quiet_end} |" in text
    for k in ("per_hour", "per_day", "retries", "retry_s"):
        assert f"| `{k}` | {getattr(p, k)} |" in text, k
    assert "| `arrival_notices` | on |" in text and p.arrival_notices


def test_the_modem_set_up_is_the_drivers():
    said = re.search(r"on every \(re\)connect: (.*?) \(PDU", DOCS["sms.md"], re.S).group(1)
    assert re.findall(r"`(AT[^`]*)`", said) == list(SETUP[:3])
    rest = re.search(r"mode\), (.*?)\. Each part", DOCS["sms.md"], re.S).group(1)
    assert re.findall(r"`(AT[^`]*)`", rest) == list(SETUP[3:])


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_names_and_paths_in_the_doc_exist(doc):
    for t in re.findall(r"`([^`\n]+)`", DOCS[doc]):
        if re.fullmatch(r"(hub|drivers|sim)(\.\w+)+", t) and not t.endswith(".db"):
            parts = t.split(".")
            for i in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                except ModuleNotFoundError:
                    continue
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
                break
        elif re.fullmatch(r"(hub|drivers|sim|bench)/[\w/.-]+", t):
            assert (ROOT / t.rstrip("/")).exists(), t
