"""The order of a Kubernetes upgrade: the pods of a release wait in their first init container until
the migrations Job has brought their schemas to the release's newest migration. Here the Job's own
commands and the pods' own wait commands, as the overlay renders them, run against a new database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.db import asyncpg_dsn
from tests.support.databases import create_database, drop_database
from tests.support.kubernetes import K8S, containers, named, of_kind, pod_spec, render

BIN = Path(sys.executable).parent


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name, url = await create_database("ioc_k8s")
    yield url
    await drop_database(name)


def _environment(database_url: str) -> dict[str, str]:
    # Only what the ConfigMap and Secrets would give (a developer's .env is not read: cwd is elsewhere).
    keep = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    return keep | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "IOC_DATABASE_URL": database_url}


def _run(command: list[str], database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=_environment(database_url), cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


async def test_the_pods_wait_until_the_migrations_job_is_done(empty_database: str, tmp_path: Path) -> None:
    manifests = render(K8S / "overlays" / "city")
    job = named(manifests, "Job", "migrations")
    waits = {
        deployment["metadata"]["name"]: pod_spec(deployment)["initContainers"][0]["command"]
        for deployment in of_kind(manifests, "Deployment")
        if pod_spec(deployment).get("initContainers")
    }
    assert set(waits) == {"registry", "registry-worker", "notifier", "notifier-worker", "adoption", "adoption-worker"}
    checks = {name: [part for part in command if part != "--wait"] for name, command in waits.items()}
    distinct = {tuple(check): name for name, check in checks.items()}  # a service's app and worker agree

    done = _run(checks["registry"], empty_database, tmp_path)
    assert done.returncode == 1, "the registry would start on an empty database"
    assert "behind: registry (none → " in done.stderr, done.stderr
    waiting = subprocess.Popen(
        waits["adoption"], env=_environment(empty_database), cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        assert waiting.stderr is not None
        assert "waiting for the migrations: registry (none → " in waiting.stderr.readline()
        for container in containers(job):  # the init containers in order, then the last
            done = _run(container["command"], empty_database, tmp_path)
            assert done.returncode == 0, f"{container['name']}: {done.stderr[-2000:]}"
        assert waiting.wait(timeout=60) == 0, "the adoption pod still waits after the Job"
    finally:
        waiting.kill()
        waiting.wait()
    for check, name in distinct.items():
        done = _run(list(check), empty_database, tmp_path)
        assert done.returncode == 0, f"{name}: {done.stderr}"

    # A rollback: an older release's pods start on a schema a newer release migrated further.
    connection = await asyncpg.connect(asyncpg_dsn(empty_database))
    try:
        await connection.execute("UPDATE registry.alembic_version SET version_num = '9999'")
    finally:
        await connection.close()
    assert _run(checks["registry"], empty_database, tmp_path).returncode == 0


def test_a_wrong_target_is_refused_with_a_message(tmp_path: Path) -> None:
    done = _run([str(BIN / "python"), "-m", "shared.healthcheck", "schema", "services.api.migrations"], "", tmp_path)
    assert done.returncode == 1 and "package:schema" in done.stderr
