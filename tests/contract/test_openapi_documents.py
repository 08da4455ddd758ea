"""What the three OpenAPI documents say of every operation: its errors as problem+json, and null allowed
for every optional field (it means absent)."""

from __future__ import annotations

import jsonschema_rs
import pytest

from tests.contract.apps import APPS

HEADERLESS_ERRORS = {"401", "403", "404", "409", "413", "415", "422"}


def operations(service: str):
    document = APPS[service]().openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield document, f"{method.upper()} {path}", operation


@pytest.mark.parametrize("service", APPS)
def test_every_error_is_a_documented_problem(service):
    undocumented = []
    for _, name, operation in operations(service):
        for status, response in operation["responses"].items():
            if int(status) < 400 or name == "GET /readyz":  # readiness answers its own JSON
                continue
            content = response.get("content", {})
            if list(content) != ["application/problem+json"]:
                undocumented.append(f"{name} {status}: {list(content)}")
            elif content["application/problem+json"]["schema"] != {"$ref": "#/components/schemas/Problem"}:
                undocumented.append(f"{name} {status}: not a Problem")
            if status in ("429", "503") and not response.get("headers", {}).get("Retry-After", {}).get("required"):
                undocumented.append(f"{name} {status}: no Retry-After")
    assert undocumented == []


@pytest.mark.parametrize("service", APPS)
def test_every_operation_documents_the_errors_of_what_it_takes(service):
    missing = []
    for _, name, operation in operations(service):
        statuses = set(operation["responses"])
        expected = set()
        if name.split()[1].startswith("/v1/"):
            expected.add("503")
        if {"HTTPBearer": []} in operation.get("security", []):
            expected |= {"401", "403", "429"}
        if "requestBody" in operation:
            expected |= {"413", "415", "422"}
        if name.startswith("POST") and {"HTTPBearer": []} in operation.get("security", []):
            expected |= {"409", "422"}
            if "Idempotency-Key" not in [p["name"] for p in operation.get("parameters", [])]:
                missing.append(f"{name}: Idempotency-Key")
        if "{" in name:
            expected.add("422")
        missing += [f"{name}: {status}" for status in sorted(expected - statuses)]
    assert missing == []


@pytest.mark.parametrize("service", APPS)
def test_null_is_allowed_for_every_optional_field_of_a_request_body(service):
    refused = []
    for document, name, operation in operations(service):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        schema = content["schema"]
        reference = schema.get("$ref", "#/inline").rsplit("/", 1)[-1]
        schema = document["components"]["schemas"].get(reference, schema)
        for field, member in schema.get("properties", {}).items():
            if field in schema.get("required", []):
                continue
            validator = jsonschema_rs.validator_for({**member, "components": document["components"]})
            if not validator.is_valid(None):
                refused.append(f"{name} {reference}.{field}")
    assert refused == []
