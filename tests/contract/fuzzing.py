"""Schemathesis over a service's own OpenAPI document, in process, against the real app.

Every phase runs (examples, coverage, fuzzing, stateful) with every check Schemathesis has, and one of
ours. A request its schema allows must be answered with 2xx, 3xx, 401, 403, 404, 409 or 429, or with
a 422 whose every error names a rule the schema cannot state (``shared.texts.RULE_CODES``: stored
data, another field, the clock) or a reused Idempotency-Key: ``refusals_name_a_rule`` holds the 422s
to that, so a refusal of what the schema allows (an empty name, a float headcount) still fails.

The app is handed to Schemathesis unstarted: its ASGI client runs the app's lifespan, and every request,
on an event loop of its own, so the app's pools belong to that loop. The generated requests reach the
seeded rows through ``seeded``: positive cases sometimes carry a seeded id or unit code in place of a
random one (a random UUID finds no directive).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
import phonenumbers
import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import StopReason, events, from_schema
from schemathesis.generation.case import Case
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import is_unexpected_http_status_case

from shared.auth import hash_key, new_key
from shared.texts import RULE_CODES

# --- formats ----------------------------------------------------------------------------------------
# Values of the formats the documents use, as the generator should draw them: this API's own phone
# formats (no validator knows them), and RFC 3339 dates and times within the years the schemas'
# patterns allow (drawn over all years and filtered, four in a hundred would survive).
_VN = phonenumbers.PhoneMetadata.metadata_for_region("VN")


def _phone_numbers(*patterns: str) -> st.SearchStrategy[str]:
    national = st.one_of([st.from_regex(f"^(?:{pattern})$", fullmatch=True) for pattern in patterns])
    written = st.sampled_from(
        [
            lambda n: "0" + n,
            lambda n: f"0{n[:3]} {n[3:6]} {n[6:]}",
            lambda n: f"0{n[:2]}.{n[2:5]}.{n[5:]}",
            lambda n: "+84" + n,
            lambda n: f"+84 {n[:3]} {n[3:6]} {n[6:]}",
            lambda n: "84" + n,
        ]
    )
    return st.builds(lambda n, write: write(n), national, written)


def _instants() -> st.SearchStrategy[str]:
    two = st.integers(0, 59).map("{:02d}".format)
    fraction = st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=9).map(".".__add__))
    offset = st.one_of(
        st.sampled_from(["Z", "z", "+07:00"]),
        st.builds("{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)),
    )
    return st.builds(
        "{}{}{:02d}:{}:{}{}{}".format,
        st.dates(date(1900, 1, 1), date(2199, 12, 31)),
        st.sampled_from("Tt"),
        st.integers(0, 23),
        two,
        two,
        fraction,
        offset,
    )


schemathesis.openapi.format("vn-mobile", _phone_numbers(_VN.mobile.national_number_pattern))
schemathesis.openapi.format(
    "vn-phone", _phone_numbers(_VN.mobile.national_number_pattern, _VN.fixed_line.national_number_pattern)
)
schemathesis.openapi.format("date", st.dates(date(1900, 1, 1), date(2199, 12, 31)).map(str))
schemathesis.openapi.format("date-time", _instants())

# Fixed, so that a run in CI is the run a developer repeats; IOC_FUZZ_SEED explores others.
SEED = int(os.environ.get("IOC_FUZZ_SEED", "20200213"))
# Examples drawn per operation and phase (IOC_FUZZ_EXAMPLES for a deeper run).
EXAMPLES = int(os.environ.get("IOC_FUZZ_EXAMPLES", "50"))
IDEMPOTENCY_MISMATCH = "/problems/idempotency-mismatch"


@schemathesis.check
def refusals_name_a_rule(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case) -> bool | None:
    """A 422 to a request the schema allows names, in every error, a rule the schema cannot state."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    if is_unexpected_http_status_case(case):
        return None
    problem = response.json()
    if problem.get("type") == IDEMPOTENCY_MISMATCH:
        return None
    errors = list(problem.get("errors") or [])
    errors += [error for rejected in problem.get("rejected") or [] for error in rejected["errors"]]
    codes = {error.get("code") for error in errors}
    if not codes or not codes <= RULE_CODES:
        raise AssertionError(
            f"A request the schema allows was refused for {sorted(map(str, codes - RULE_CODES)) or 'no named rule'}:"
            f" the schema should state that rule\n{response.text[:1000]}"
        )
    return None


@dataclass
class Seeded:
    """Values the generated requests may carry instead of random ones (positive cases only)."""

    path: Mapping[str, list[str]] = field(default_factory=dict)  # path parameter -> values
    body: Mapping[str, list[Any]] = field(default_factory=dict)  # top-level body field -> values
    query: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass
class Outcome:
    seconds: float
    stop_reason: StopReason | None
    cases: int
    failures: list[str]
    errors: list[str]
    phases: dict[str, str]  # phase -> how it finished (success, failure, skip...)
    statuses: Counter[tuple[str, int]]  # (operation, status) -> responses

    def report(self) -> str:
        lines = [f"{self.cases} requests in {self.seconds:.0f} s, stopped: {self.stop_reason}"]
        by_operation: dict[str, list[str]] = {}
        for (operation, status), count in sorted(self.statuses.items()):
            by_operation.setdefault(operation, []).append(f"{status}×{count}")
        lines.append("\n".join(f"  {operation}: {' '.join(seen)}" for operation, seen in by_operation.items()))
        lines += self.errors + self.failures
        return "\n\n".join(lines)


CREATE_OFFICE_KEY = (
    "INSERT INTO auth.api_keys (id, name, role, key_hash, key_hint, rate_limit_per_minute) "
    "VALUES ($1, 'contract fuzzing', 'office', $2, $3, 1000000)"
)


def office_keys(dsn: str, receipt_token: str | None) -> type:
    """An auth provider: an office key, a new one each time the current one is refused (the run can
    revoke any key it sees in GET /v1/keys, its own too), with a limit no run reaches (the rate limit
    has tests of its own). The SMS gateways' callback gets the receipt token instead."""

    async def create() -> str:
        key = new_key()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(CREATE_OFFICE_KEY, uuid.uuid4(), hash_key(key), key[:10])
        finally:
            await conn.close()
        return key

    class OfficeKeys:
        def get(self, case: Case, context: schemathesis.AuthContext) -> str:
            return asyncio.run(create())  # the engine's thread has no event loop of its own

        def set(self, case: Case, key: str, context: schemathesis.AuthContext) -> None:
            schemes = {
                name for requirement in context.operation.definition.raw.get("security", []) for name in requirement
            }
            if "ReceiptToken" in schemes and receipt_token is not None:
                case.query = {**(case.query or {}), "token": receipt_token}
            elif "HTTPBearer" in schemes:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}

    return OfficeKeys


def config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "phases": {"stateful": {"max-steps": 8}},
            "checks": {
                # 422 is allowed here and held to a named rule by refusals_name_a_rule.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
                },
            },
            "request-timeout": 30,
            "workers": 1,
        }
    )


def _seeding(seeded: Seeded):
    def flatmap_case(context: schemathesis.HookContext, case: Case) -> st.SearchStrategy[Case]:
        meta = case.meta
        if meta is None or not meta.generation.mode.is_positive:
            return st.just(case)
        choices = []
        for name, values in seeded.path.items():
            if name in (case.path_parameters or {}):
                choices.append(("path", name, values))
        if isinstance(case.body, dict):
            choices += [("body", name, values) for name, values in seeded.body.items() if name in case.body]
        choices += [("query", name, values) for name, values in seeded.query.items() if name in (case.query or {})]
        if not choices:
            return st.just(case)

        def seed(picks: list[tuple[str, str, Any]]) -> Case:
            for where, name, value in picks:
                if where == "path":
                    case.path_parameters = {**case.path_parameters, name: value}
                elif where == "body":
                    case.body = {**case.body, name: value}
                else:
                    case.query = {**case.query, name: value}
            return case

        picks = st.tuples(*[st.sampled_from(values).map(lambda v, w=w, n=n: (w, n, v)) for w, n, values in choices])
        return st.one_of(st.just(case), picks.map(lambda chosen: seed(list(chosen))))

    return flatmap_case


def run(app: Any, *, dsn: str, seeded: Seeded, receipt_token: str | None = None) -> Outcome:
    """Every phase over the app's /openapi.json; blocking (run it in a thread)."""
    started = time.monotonic()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config())
    schema.hook("flatmap_case")(_seeding(seeded))
    # Refreshed only when refused (401), never on a timer.
    schema.auth(refresh_interval=24 * 3600)(office_keys(dsn, receipt_token))
    failures: list[str] = []
    errors: list[str] = []
    phases: dict[str, str] = {}
    cases = 0
    statuses: Counter[tuple[str, int]] = Counter()
    stop_reason = None
    seen: set[tuple[str, str, str]] = set()
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                cases += len(event.recorder.cases)
                for case_id, node in event.recorder.cases.items():
                    interaction = event.recorder.interactions.get(case_id)
                    if interaction is not None and interaction.response is not None:
                        statuses[(node.value.operation.label, interaction.response.status_code)] += 1
                for nodes in event.recorder.checks.values():
                    for node in nodes:
                        info = node.failure_info
                        if info is None:
                            continue
                        key = (event.recorder.label, type(info.failure).__name__, info.failure.title)
                        if key in seen:
                            continue
                        seen.add(key)
                        failures.append(
                            f"[{event.phase.value}] {event.recorder.label}: {info.failure.title}\n"
                            f"{info.failure.message}\n{info.code_sample}"
                        )
            elif isinstance(event, events.NonFatalError):
                errors.append(f"error in {event.label}: {event.info.format()}")
            elif isinstance(event, events.FatalError):
                errors.append(f"fatal: {event.exception!r}")
            elif isinstance(event, events.PhaseFinished):
                reason = event.phase.skip_reason
                phases[event.phase.name.value] = f"skipped: {reason.value}" if reason else event.status.value
            elif isinstance(event, events.EngineFinished):
                stop_reason = event.stop_reason
                for failure in event.failures:
                    failures.append(f"[after run] {failure.title}\n{failure.message}")
    finally:
        schemathesis_asgi.shutdown_lifespans()
    return Outcome(time.monotonic() - started, stop_reason, cases, failures, errors, phases, statuses)
