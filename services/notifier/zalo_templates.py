"""Which notification kinds go by Zalo (ZNS), with which approved template and parameters.

``templates/zalo.toml`` (or the one in ``IOC_TEMPLATES_DIR``), edited by the Office: for each kind, the
template id Zalo approved and each parameter's name, ZNS type and value (a Jinja expression over the
message's fields, with the filters of the other templates). A value longer than its type allows
(ZNS's own limits: a name 30 characters, an address 200...) is cut at a word, with an ellipsis, so
that ZNS does not refuse the whole message. A kind without an entry goes by SMS.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Template

from services.notifier.rendering import SHIPPED, environment

FILE = "zalo.toml"
ELLIPSIS = "…"

# ZNS parameter types and their maximum lengths (Zalo's template API, "loại tham số").
LIMITS = {
    "customer_name": 30,
    "phone_number": 15,
    "address": 200,
    "code": 30,
    "custom_label": 30,
    "transaction_status": 30,
    "contact": 50,
    "title": 5,
    "product_name": 200,
    "amount": 20,
    "time": 20,
    "otp": 10,
    "url": 200,
    "currency": 12,
    "bank_note": 90,
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    max_length: int
    value: Template


@dataclass(frozen=True, slots=True)
class ZaloTemplate:
    kind: str
    template_id: str
    params: tuple[Param, ...]


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word with an ellipsis when it is longer."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    head = text[: room + 1]  # one more: a space right after the cut means the cut is at a word
    cut_at = head.rfind(" ")
    kept = head[:cut_at] if cut_at > 0 else text[:room]
    return kept.rstrip(" ,;:-–") + ELLIPSIS


@lru_cache(maxsize=4)
def templates(directory: str | None) -> dict[str, ZaloTemplate]:
    """The kinds that go by Zalo (none when the file is absent); a ValueError names a wrong entry."""
    path = Path(directory or SHIPPED) / FILE
    if not path.exists():
        return {}
    with path.open("rb") as f:
        document = tomllib.load(f)
    env = environment(directory)
    found: dict[str, ZaloTemplate] = {}
    for kind, entry in document.items():
        if not isinstance(entry, dict) or not str(entry.get("template_id") or "").strip():
            raise ValueError(f"{FILE}: [{kind}] needs a template_id")
        params = []
        for name, spec in (entry.get("params") or {}).items():
            if not isinstance(spec, dict) or spec.get("type") not in LIMITS or not isinstance(spec.get("value"), str):
                raise ValueError(f"{FILE}: [{kind}.params] {name} needs a type among {sorted(LIMITS)} and a value")
            limit = int(spec.get("max_length") or LIMITS[spec["type"]])
            params.append(Param(name, spec["type"], limit, env.from_string(spec["value"])))
        found[kind] = ZaloTemplate(kind, str(entry["template_id"]).strip(), tuple(params))
    return found


def template_for(directory: str | None, kind: str) -> ZaloTemplate | None:
    return templates(directory).get(kind)


def render_zalo(template: ZaloTemplate, context: dict[str, Any]) -> dict[str, str]:
    """The ``template_data`` of one message: each parameter rendered and cut to its type's length."""
    return {p.name: cut(p.value.render(context), p.max_length) for p in template.params}
