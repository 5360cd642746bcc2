"""Trunk configuration: which E1 spans we have and how each is signalled.

A trunk file is YAML (or the same structure as a dict)::

    e1:
      spans:
        - span: 1                 # DAHDI span number (1..)
          name: CT-Beijing-1
          protocol: r2-cn         # r2-cn | pri-net | pri-cpe
          timing: 1               # 0 = we are the clock master; 1.. = carrier clock priority
          crc4: true
          line_code: hdb3
          max_dnis: 8             # R2: called-number length (China sends no end-of-DNIS)
          max_ani: 20
          context: from-carrier   # dialplan context for chan_dahdi
          group: 1
        - span: 2
          protocol: pri-cpe
          switchtype: euroisdn

Unknown keys are refused, so a typo never silently becomes a default.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import yaml

from .errors import ConfigError
from .span import SpanConfig

_TRUNK_KEYS = {"span", "name", "protocol", "timing", "lbo", "crc4", "line_code", "idle_abcd",
               "max_dnis", "max_ani", "context", "group", "switchtype", "category", "echocanceller"}


@dataclass
class Trunk:
    """One span's trunk settings (span-level fields go to :class:`SpanConfig`)."""

    config: SpanConfig
    max_dnis: int = 8
    max_ani: int = 20
    context: str = "from-carrier"
    group: int = 1
    switchtype: str = "euroisdn"
    category: str = "national_subscriber"
    echocanceller: str | None = "oslec"
    extra: dict = field(default_factory=dict)


def trunk_from_dict(d: dict) -> Trunk:
    if not isinstance(d, dict):
        raise ConfigError(f"a span entry must be a mapping, got {d!r}")
    unknown = set(d) - _TRUNK_KEYS
    if unknown:
        raise ConfigError(f"span {d.get('span', '?')}: unknown keys {sorted(unknown)}")
    if "span" not in d:
        raise ConfigError("every span entry needs 'span' (the DAHDI span number)")
    protocol = d.get("protocol", "r2-cn")
    span_kw = {k: d[k] for k in ("span", "name", "timing", "lbo", "crc4", "line_code", "idle_abcd") if k in d}
    if isinstance(span_kw.get("idle_abcd"), str):
        span_kw["idle_abcd"] = int(span_kw["idle_abcd"], 2)
    span_kw.setdefault("name", f"E1/{d['span']}")
    cfg = SpanConfig(protocol=protocol, signalling="cas" if protocol == "r2-cn" else "ccs", **span_kw)
    try:
        cfg.validate()
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    t = Trunk(cfg)
    for k in ("max_dnis", "max_ani", "context", "group", "switchtype", "category", "echocanceller"):
        if k in d:
            setattr(t, k, d[k])
    if not 1 <= int(t.max_dnis) <= 30 or not 0 <= int(t.max_ani) <= 30:
        raise ConfigError(f"span {cfg.span}: max_dnis must be 1..30 and max_ani 0..30")
    if t.switchtype not in ("euroisdn", "qsig", "ni2", "national", "dms100", "4ess", "5ess"):
        raise ConfigError(f"span {cfg.span}: unknown switchtype {t.switchtype!r}")
    return t


def load_trunks(source) -> list[Trunk]:
    """Trunks from a YAML file path, YAML text or an already parsed dict."""
    if isinstance(source, dict):
        doc = source
    else:
        text = source
        if "\n" not in str(source):
            try:
                with open(source, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise ConfigError(f"cannot read trunk file {source}: {exc.strerror}") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"trunk file is not valid YAML: {exc}") from None
    spans = (doc or {}).get("e1", {}).get("spans") if isinstance(doc, dict) else None
    if not spans:
        raise ConfigError("trunk file has no e1.spans list")
    trunks = [trunk_from_dict(s) for s in spans]
    numbers = [t.config.span for t in trunks]
    if len(set(numbers)) != len(numbers):
        raise ConfigError(f"span numbers repeat: {numbers}")
    if sum(1 for t in trunks if t.config.timing == 0) > 1:
        raise ConfigError("at most one span may be the timing master (timing 0)")
    return sorted(trunks, key=lambda t: t.config.span)


def span_config_fields() -> list[str]:
    return [f.name for f in fields(SpanConfig)]
