"""The Kubernetes overlays, rendered as ``kubectl apply -k`` would send them: every object valid for the
Kubernetes versions the manifests are for, and the rules every pod keeps (probes, resources, no
root, no secret in a manifest, disruption budgets and autoscalers, network policies, a grace period
long enough for the shutdown)."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.adoption.worker import METRICS_PORT as ADOPTION_METRICS_PORT
from services.api.worker import METRICS_PORT as REGISTRY_METRICS_PORT
from services.notifier.worker import METRICS_PORT as NOTIFIER_METRICS_PORT
from shared.queues import JOB_COMPLETION_WAIT_SECONDS
from tests.support.kubernetes import (
    K8S,
    K8S_VERSIONS,
    Manifest,
    containers,
    egress_ports,
    ingress_rules,
    is_http_app,
    named,
    of_kind,
    pod_labels,
    pod_spec,
    policies_for,
    render,
    selects,
    workloads,
)

SECRET_NAME = re.compile(r"PASSWORD|TOKEN|KEY|SECRET", re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
WORKER_METRICS_PORTS = {
    "services.api.worker": REGISTRY_METRICS_PORT,
    "services.notifier.worker": NOTIFIER_METRICS_PORT,
    "services.adoption.worker": ADOPTION_METRICS_PORT,
}
# What a process needs after its own shutdown timeout: closing pools and clients, the last log lines.
SHUTDOWN_MARGIN_SECONDS = 5
DATASTORE_PORTS = {53, 5432, 6379, 26379}
API_PORTS = {8000, 8001, 8002}
DELIVERY_PORTS = {25, 465, 587, 443}


def _deployments(manifests: list[Manifest]) -> list[Manifest]:
    return of_kind(manifests, "Deployment")


def _name(manifest: Manifest) -> str:
    name: str = manifest["metadata"]["name"]
    return name


def _option(command: list[str], option: str) -> str | None:
    return command[command.index(option) + 1] if option in command else None


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_is_valid_for_the_kubernetes_versions(manifests: list[Manifest], version: str) -> None:
    invalid = []
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            invalid.append(f"{manifest['kind']} {_name(manifest)}: {exc.message}")
    assert not invalid, f"not valid for Kubernetes {version}:\n" + "\n".join(invalid)


def test_the_overlay_runs_every_component(manifests: list[Manifest]) -> None:
    assert {_name(d) for d in _deployments(manifests)} == {
        "registry", "registry-worker", "notifier", "notifier-worker", "adoption", "adoption-worker", "web",
    }  # fmt: skip
    assert {_name(j) for j in of_kind(manifests, "Job")} == {"migrations"}


def test_every_long_running_container_has_liveness_and_readiness_probes(manifests: list[Manifest]) -> None:
    for deployment in _deployments(manifests):
        for container in containers(deployment, init=False):
            where = f"{_name(deployment)}/{container['name']}"
            assert "livenessProbe" in container, f"{where} has no liveness probe"
            assert "readinessProbe" in container, f"{where} has no readiness probe"
            if is_http_app(deployment):
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where


def test_every_container_has_requests_and_limits(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        for container in containers(workload):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert set(resources.get(kind, {})) >= {"cpu", "memory"}, (
                    f"{_name(workload)}/{container['name']} has no {kind} for cpu and memory"
                )


def test_every_pod_runs_unprivileged_on_a_read_only_root(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        spec = pod_spec(workload)
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, _name(workload)
        assert pod_security["runAsUser"] == 10001, _name(workload)  # the image's user
        assert spec["automountServiceAccountToken"] is False, _name(workload)
        tmp = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(workload):
            where = f"{_name(workload)}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}.get("/tmp") in tmp, where


def test_no_secret_value_is_in_any_manifest(manifests: list[Manifest]) -> None:
    assert not of_kind(manifests, "Secret"), "Secrets are made apart from the overlays (deploy/k8s/secrets)"
    for workload in workloads(manifests):
        for container in containers(workload):
            for variable in container.get("env", []):
                assert not (SECRET_NAME.search(variable["name"]) and "value" in variable), (
                    f"{_name(workload)}/{container['name']}: {variable['name']} has a value in the manifest"
                )
    for config in of_kind(manifests, "ConfigMap"):
        secret_keys = [key for key in config["data"] if SECRET_NAME.search(key)]
        assert not secret_keys, f"ConfigMap {_name(config)} holds {secret_keys}"
    text = yaml.safe_dump_all(manifests)
    assert not CREDENTIALS_IN_URL.search(text), "a URL with a password is in the manifests"


def test_settings_come_from_the_configmap_and_secrets_by_name(manifests: list[Manifest]) -> None:
    config_maps = {_name(c) for c in of_kind(manifests, "ConfigMap")}
    for workload in workloads(manifests):
        for container in containers(workload):
            sources = container["envFrom"]
            assert [s["configMapRef"]["name"] for s in sources if "configMapRef" in s][0] in config_maps
            assert [s["secretRef"]["name"] for s in sources if "secretRef" in s], (
                f"{_name(workload)}/{container['name']} takes no Secret"
            )


def test_the_example_secret_generator_makes_every_secret_the_pods_name(
    manifests: list[Manifest], tmp_path: Path
) -> None:
    """deploy/k8s/secrets with its example files filled in: the Secrets it makes are the ones the pods name."""
    shutil.copytree(K8S / "secrets", tmp_path / "secrets")
    for example in (tmp_path / "secrets").glob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    made = {_name(s) for s in render(tmp_path / "secrets")}
    named_by_pods = {
        source["secretRef"]["name"]
        for workload in workloads(manifests)
        for container in containers(workload)
        for source in container["envFrom"]
        if "secretRef" in source
    }
    assert named_by_pods == made
    ignored = (K8S / "secrets" / ".gitignore").read_text().split()
    assert "*.env" in ignored, "the filled-in files must never enter git"


def test_every_container_runs_the_one_pinned_image(manifests: list[Manifest]) -> None:
    images = {c["image"] for w in workloads(manifests) for c in containers(w)}
    assert len(images) == 1, images
    image = images.pop()
    repository, _, tag = image.rpartition(":")
    assert repository.endswith("/ioc-halong") and tag and tag != "latest", image


def test_every_command_names_code_of_the_image_and_its_ports(manifests: list[Manifest]) -> None:
    missing = set()
    for workload in workloads(manifests):
        for container in containers(workload):
            command = container["command"]
            where = f"{_name(workload)}/{container['name']}"
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            if command[0] == "uvicorn":
                module = command[1].split(":")[0]
                assert _option(command, "--port") == str(ports["http"]), where
            elif command[:2] == ["python", "-m"]:
                module = command[2]
                if module in WORKER_METRICS_PORTS:
                    assert ports["metrics"] == WORKER_METRICS_PORTS[module], where
            else:
                assert command == ["ioc", "migrate"], where
                module = "services.api.cli"
            if importlib.util.find_spec(module.rpartition(".")[0]) is None or importlib.util.find_spec(module) is None:
                missing.add(module)
    assert not missing, f"no such modules: {missing}"


def test_every_deployment_has_a_disruption_budget(manifests: list[Manifest]) -> None:
    budgets = of_kind(manifests, "PodDisruptionBudget")
    for deployment in _deployments(manifests):
        covering = [b for b in budgets if selects(b["spec"]["selector"], pod_labels(deployment))]
        assert len(covering) == 1, f"{_name(deployment)}: {len(covering)} disruption budgets"
        assert covering[0]["spec"].get("maxUnavailable") == 1, _name(deployment)


def test_the_http_apps_and_the_notifier_worker_autoscale(manifests: list[Manifest]) -> None:
    scaled = {a["spec"]["scaleTargetRef"]["name"]: a for a in of_kind(manifests, "HorizontalPodAutoscaler")}
    expected = {_name(d) for d in _deployments(manifests) if is_http_app(d)} | {"notifier-worker"}
    assert set(scaled) == expected
    for deployment in _deployments(manifests):
        if _name(deployment) in scaled:
            assert "replicas" not in deployment["spec"], f"{_name(deployment)}: an apply would undo its autoscaler"
            assert scaled[_name(deployment)]["spec"]["minReplicas"] >= 2, _name(deployment)
        else:
            assert deployment["spec"]["replicas"] >= 2, _name(deployment)


def test_network_policies_let_each_pod_reach_only_what_it_needs(manifests: list[Manifest]) -> None:
    everything = [p for p in of_kind(manifests, "NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert any(
        p["spec"]["policyTypes"] == ["Ingress", "Egress"]
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in everything
    ), "no default-deny policy"
    for workload in workloads(manifests):
        labels, name = pod_labels(workload), _name(workload)
        own = [p for p in policies_for(manifests, labels) if p["spec"]["podSelector"] != {}]
        assert own, f"{name}: no NetworkPolicy of its own selects its pods"
        ports = egress_ports(manifests, labels)
        assert "*" not in ports, f"{name} may reach any port"
        if name == "notifier-worker":
            assert ports >= DELIVERY_PORTS, name
        else:
            assert not ports & DELIVERY_PORTS, f"{name} may reach SMTP or HTTPS"
        if name == "web":
            assert ports >= API_PORTS and 5432 not in ports, name
        else:
            assert not ports & API_PORTS, f"{name} may call the APIs"
        assert ports <= DATASTORE_PORTS | API_PORTS | DELIVERY_PORTS, f"{name}: {ports}"


def test_only_the_ingress_controller_and_the_web_reach_the_http_apps(manifests: list[Manifest]) -> None:
    web_labels = pod_labels(named(manifests, "Deployment", "web"))
    for deployment in _deployments(manifests):
        rules = ingress_rules(manifests, pod_labels(deployment))
        peers = [peer for rule in rules for peer in rule.get("from", [])]
        assert rules and all(rule.get("from") for rule in rules), f"{_name(deployment)}: open to every pod"
        from_namespaces = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for peer in peers
            if "namespaceSelector" in peer
        }
        from_web = any("podSelector" in p and selects(p["podSelector"], web_labels) for p in peers)
        if _name(deployment) == "web":
            assert from_namespaces == {"ingress-nginx", "monitoring"} and not from_web
        elif is_http_app(deployment):
            assert from_namespaces == {"ingress-nginx", "monitoring"} and from_web, _name(deployment)
        else:
            assert from_namespaces == {"monitoring"} and not from_web, _name(deployment)


def test_the_ingresses_lead_to_the_http_apps(manifests: list[Manifest]) -> None:
    services = {_name(s): s for s in of_kind(manifests, "Service")}
    backends = set()
    for ingress in of_kind(manifests, "Ingress"):
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        assert hosts <= {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}, _name(ingress)
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = services[path["backend"]["service"]["name"]]
                assert path["backend"]["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
                backends.add(_name(service))
    assert backends == {_name(d) for d in _deployments(manifests) if is_http_app(d)}
    for service in services.values():
        assert any(
            selects({"matchLabels": service["spec"]["selector"]}, pod_labels(d)) for d in _deployments(manifests)
        )


def test_the_grace_period_covers_the_shutdown(manifests: list[Manifest]) -> None:
    """SIGTERM comes after the preStop hook; the process then needs its own shutdown timeout: uvicorn's
    --timeout-graceful-shutdown, a worker's wait for its running jobs (shared.queues)."""
    for deployment in _deployments(manifests):
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        for container in containers(deployment, init=False):
            where = f"{_name(deployment)}/{container['name']}"
            pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            sleep = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
            if container["command"][0] == "uvicorn":
                timeout = _option(container["command"], "--timeout-graceful-shutdown")
                assert timeout is not None, f"{where}: uvicorn would wait for its connections without end"
                assert sleep > 0, f"{where}: no preStop pause for the endpoints to drop the pod"
                shutdown = int(timeout)
            else:
                shutdown = JOB_COMPLETION_WAIT_SECONDS
            assert grace >= sleep + shutdown + SHUTDOWN_MARGIN_SECONDS, f"{where}: {grace} s is too short"


def test_the_database_pods_wait_for_their_schemas(manifests: list[Manifest]) -> None:
    for deployment in _deployments(manifests):
        uses_database = pod_labels(deployment).get("ioc-halong/postgres") == "client"
        first = (pod_spec(deployment).get("initContainers") or [{}])[0]
        waits = first.get("command", [])[:5] == ["python", "-m", "shared.healthcheck", "schema", "--wait"]
        assert waits == uses_database, _name(deployment)
        if waits:
            targets = first["command"][5:]
            assert "services.api.migrations:registry" in targets, _name(deployment)  # auth: every service


def test_the_province_runs_more_of_everything_behind_sentinel() -> None:
    city, province = (render(K8S / "overlays" / name) for name in ("city", "province"))
    settings = of_kind(province, "ConfigMap")[0]["data"]
    assert settings["IOC_REDIS_SENTINELS"] and settings["IOC_REDIS_SENTINEL_MASTER"]
    assert "IOC_REDIS_SENTINELS" not in of_kind(city, "ConfigMap")[0]["data"]

    def capacity(manifests: list[Manifest]) -> dict[str, tuple[int, int]]:
        autoscalers = {
            a["spec"]["scaleTargetRef"]["name"]: a["spec"] for a in of_kind(manifests, "HorizontalPodAutoscaler")
        }
        return {
            _name(d): (
                autoscalers[_name(d)]["minReplicas"] if _name(d) in autoscalers else d["spec"]["replicas"],
                autoscalers[_name(d)]["maxReplicas"] if _name(d) in autoscalers else d["spec"]["replicas"],
            )
            for d in _deployments(manifests)
        }

    for name, (low, high) in capacity(city).items():
        assert capacity(province)[name][0] >= low and capacity(province)[name][1] >= high, name
    assert sum(low for low, _ in capacity(province).values()) > sum(low for low, _ in capacity(city).values())
