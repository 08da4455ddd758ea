"""docs/api-contract.md, the page client teams code against, and the three OpenAPI documents say the
same: every operation of a document is named in the contract with the statuses it can answer, and
every endpoint the contract names exists, with that method."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Match

from shared.texts import RULE_CODES
from tests.contract.apps import APPS

CONTRACT = Path(__file__).parents[2] / "docs" / "api-contract.md"
SECTIONS = {"registry": "Registry service", "adoption": "Adoption service", "notifier": "Notifier service"}
EVERY_SERVICE = "Every service"
ENDPOINT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_{}./-]*)")
ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/\S*)` \|[^|]*\| *([0-9 ]*?) *\| *([0-9 ]*?) *\|$", re.M)


def sections() -> dict[str, str]:
    """The contract's text under each "## " heading."""
    parts = re.split(r"^## ", CONTRACT.read_text(encoding="utf-8"), flags=re.M)
    return {part.split("\n", 1)[0].split(" (")[0].strip(): part for part in parts[1:]}


def shape(path: str) -> str:
    """A path with its parameters unnamed: the contract writes {id} where a document has {directive_id}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def named(service: str) -> set[tuple[str, str]]:
    text = sections()[SECTIONS[service]] + sections()[EVERY_SERVICE]
    return {(method, shape(path)) for method, path in ENDPOINT.findall(text)}


def tabled(service: str) -> dict[tuple[str, str], set[str]]:
    text = sections()[SECTIONS[service]] + sections()[EVERY_SERVICE]
    return {
        (method, shape(path)): set(f"{success} {errors}".split()) for method, path, success, errors in ROW.findall(text)
    }


def documented(service: str) -> dict[tuple[str, str], set[str]]:
    document = APPS[service]().openapi()
    return {
        (method.upper(), shape(path)): set(operation["responses"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


@pytest.mark.parametrize("service", APPS)
def test_every_operation_is_named_in_the_contract_with_its_statuses(service):
    operations = documented(service)
    assert set(operations) - named(service) == set(), "operations the contract does not name"
    rows = tabled(service)
    assert {op: rows.get(op) for op in operations} == operations, "statuses in the contract's tables"


@pytest.mark.parametrize("service", APPS)
def test_every_endpoint_the_contract_names_exists_with_that_method(service):
    app = APPS[service]()
    missing = []
    for method, path in sorted(named(service)):
        scope = {"type": "http", "method": method, "path": path.replace("{}", "X1"), "root_path": ""}
        if not any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            missing.append(f"{method} {path}")
    assert missing == []


def test_the_contract_names_every_rule_a_schema_cannot_state():
    text = CONTRACT.read_text(encoding="utf-8")
    assert sorted(code for code in RULE_CODES if f"`{code}`" not in text) == []


def test_the_fixed_contract_is_kept_word_for_word():
    # The page handed to the project (shared/, beside the repository): every line of it is in ours.
    handed = CONTRACT.parents[2] / "shared" / "docs" / "api-contract.md"
    if not handed.exists():
        pytest.skip("the handed contract is not on this machine")
    ours = CONTRACT.read_text(encoding="utf-8").splitlines()
    assert [line for line in handed.read_text(encoding="utf-8").splitlines() if line not in ours] == []
