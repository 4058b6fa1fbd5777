"""deploy/ checked offline: no Docker engine and no cluster run here.

- every Kubernetes manifest validated against the API schemas of one Kubernetes version
  (kubernetes-validate, strict: unknown fields fail), plus what a schema cannot see: selectors,
  probes on the health endpoints, hardening, roles, secrets mounted where settings read them;
- the compose file against the Compose Specification (the compose-spec package, when
  installed) and structurally: healthchecks, dependencies, Kafka's log dirs on its volume, the
  API on loopback, the gpu profile, secrets;
- the Dockerfile and the build context (.dockerignore);
- every TICKERPULSE_* variable set in compose, the manifests and the Dockerfile loaded into the
  settings tree, so a misspelt or unknown setting fails here, not at 3 a.m.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import stat
import subprocess
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from alerts.rules import parse_rules
from tickerpulse.settings import Settings
from tickerpulse.wiring import AGENT_NAMES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
PREFIX = "TICKERPULSE_"
K8S_VERSION = "1.30.0"  # the oldest release the manifests target (kubernetes-validate>=1.30)
OPTIONAL_MANIFESTS = {"secret.example.yaml", "hpa-worker.yaml", "model-build-job.yaml"}
SECRET_MOUNT = "/run/secrets/tickerpulse"
HEALTH_PORT = {"worker": ("stream", "web_port"), "score": ("stream", "web_port"),
               "alerts": ("alerts", "http_port"), "api": ("api", "port")}
HEALTH_HOST = {"worker": ("stream", "web_host"), "score": ("stream", "web_host"),
               "alerts": ("alerts", "http_host"), "api": ("api", "host")}


# ----------------------------------------------------------------------------- settings


def setting_field(env_name: str) -> tuple[type[BaseModel], str]:
    """(section, field) an environment variable sets; AssertionError naming it when none."""
    assert env_name.startswith(PREFIX), env_name
    parts = env_name[len(PREFIX):].lower().split("__")
    model: type[BaseModel] = Settings
    for part in parts[:-1]:
        field = model.model_fields.get(part)
        section = field.annotation if field is not None else None
        assert isinstance(section, type) and issubclass(section, BaseModel), (
            f"{env_name}: no settings section {part!r} in {model.__name__}")
        model = section
    name = parts[-1]
    if name not in model.model_fields and name.endswith("_file"):
        name = name[: -len("_file")]  # <SETTING>_FILE: the setting read from a file
    assert name in model.model_fields, f"{env_name}: {model.__name__} has no setting {name!r}"
    return model, name


def _placeholder(model: type[BaseModel], name: str) -> str:
    """File content that the setting accepts (the real secret is not here)."""
    annotation = model.model_fields[name].annotation
    origin = typing.get_origin(annotation)
    if origin is list:
        return "[]"
    if annotation is bool:
        return "false"
    if annotation in (int, float):
        return "1"
    if name.endswith("url"):
        return "postgresql+psycopg://u:p@db.example:5432/tp" if "database" in name else \
            "redis://:p@redis.example:6379/0"
    return "placeholder" if annotation in (str, SecretStr) else ""


def load_settings_from(env: dict[str, str], tmp: Path,
                       files: dict[str, str] | None = None) -> Settings:
    """Settings() under exactly these TICKERPULSE_* variables.

    A ``..._FILE`` variable is pointed at a file in ``tmp`` holding ``files[path]`` when given,
    else a placeholder the setting accepts (the deployment's own path does not exist here).
    """
    chosen: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith(PREFIX):
            continue
        model, name = setting_field(key)
        if name != key[len(PREFIX):].lower().rsplit("__", 1)[-1]:  # a <SETTING>_FILE twin
            target = tmp / f"file{len(chosen)}"
            target.write_text((files or {}).get(value, _placeholder(model, name)) + "\n")
            chosen[key] = str(target)
        else:
            chosen[key] = value
    saved = {k: v for k, v in os.environ.items() if k.startswith(PREFIX)}
    try:
        for key in saved:
            del os.environ[key]
        os.environ.update(chosen)
        return Settings()
    finally:
        for key in chosen:
            os.environ.pop(key, None)
        os.environ.update(saved)


def _setting(settings: Settings, path: tuple[str, str]) -> Any:
    return getattr(getattr(settings, path[0]), path[1])


def test_setting_field_rejects_unknown_names() -> None:
    assert setting_field("TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS")[1] == "bootstrap_servers"
    assert setting_field("TICKERPULSE_ALERTS__DATABASE_URL_FILE")[1] == "database_url"
    for wrong in ("TICKERPULSE_KAFKA__BOOTSTRAP_SERVER", "TICKERPULSE_KAFKA_BOOTSTRAP_SERVERS",
                  "TICKERPULSE_STREAMS__AGENTS", "TICKERPULSE_REDIS__URL__X",
                  "TICKERPULSE_API__NOPE_FILE"):
        with pytest.raises(AssertionError, match=wrong):
            setting_field(wrong)


# ----------------------------------------------------------------------------- Kubernetes


def _manifests() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                yield path.name, doc


MANIFESTS = list(_manifests())


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in MANIFESTS if doc["kind"] == kind]


def _workloads() -> list[dict[str, Any]]:
    return _of_kind("Deployment") + _of_kind("Job")


def _deployment(component: str) -> dict[str, Any]:
    found = [d for d in _of_kind("Deployment")
             if d["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    assert len(found) == 1, component
    return found[0]


def _configmap_env() -> dict[str, str]:
    (config,) = [c for c in _of_kind("ConfigMap") if c["metadata"]["name"] == "tickerpulse-config"]
    return dict(config["data"])


def _container_env(container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == "tickerpulse-config"
        env.update(_configmap_env())
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def _example_secret() -> dict[str, str]:
    (secret,) = _of_kind("Secret")
    return dict(secret["stringData"])


def test_every_manifest_is_in_kustomization_or_optional() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed <= files, f"listed but missing: {listed - files}"
    assert files - listed == OPTIONAL_MANIFESTS
    assert kustomization["namespace"] == "tickerpulse"
    images = {c["image"].split(":")[0] for w in _workloads()
              for c in w["spec"]["template"]["spec"]["containers"]}
    assert images == {i["name"] for i in kustomization["images"]}


@pytest.mark.parametrize("name,doc", MANIFESTS,
                         ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in MANIFESTS])
def test_manifest_validates_against_kubernetes_schema(name: str, doc: dict[str, Any]) -> None:
    # strict: an unknown or misspelt field fails; a kind without a schema fails too
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert doc["metadata"].get("namespace", "tickerpulse") == "tickerpulse"


def test_schema_validation_catches_mistakes() -> None:
    deployment = _deployment("worker")
    for path, value in [(("spec", "replcas"), 2), (("spec", "replicas"), "two"),
                        (("spec", "template", "spec", "containers", 0, "livenessProbe",
                          "httpGet", "paht"), "/livez")]:
        broken = copy.deepcopy(deployment)
        node: Any = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_workloads_are_hardened() -> None:
    accounts = {a["metadata"]["name"] for a in _of_kind("ServiceAccount")}
    (namespace,) = _of_kind("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in _workloads():
        pod = workload["spec"]["template"]["spec"]
        what = workload["metadata"]["name"]
        assert pod["serviceAccountName"] in accounts, what
        assert pod["automountServiceAccountToken"] is False, what
        assert pod["securityContext"]["runAsNonRoot"] is True, what
        assert pod["securityContext"]["runAsUser"] != 0, what
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", what
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, what
            assert ctx["readOnlyRootFilesystem"] is True, what
            assert ctx["capabilities"]["drop"] == ["ALL"], what
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), what
            assert "memory" in container["resources"]["limits"], what
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{what}: a read-only root needs a writable /tmp"


def test_volumes_and_references_resolve() -> None:
    claims = {c["metadata"]["name"] for c in _of_kind("PersistentVolumeClaim")}
    configmaps = {c["metadata"]["name"] for c in _of_kind("ConfigMap")}
    (secret,) = _of_kind("Secret")
    for workload in _workloads():
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            for mount in container["volumeMounts"]:
                assert mount["name"] in volumes, f"{workload['metadata']['name']}: {mount}"
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps
            if "secret" in volume:
                assert volume["secret"]["secretName"] == secret["metadata"]["name"]
                for item in volume["secret"].get("items", []):
                    assert item["key"] in secret["stringData"], item


def test_selectors_match_their_pods() -> None:
    deployments = _of_kind("Deployment")
    for deployment in deployments:
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), deployment["metadata"]["name"]

    def selected(selector: dict[str, str]) -> list[str]:
        return [d["metadata"]["name"] for d in deployments
                if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]

    pdbs = _of_kind("PodDisruptionBudget")
    assert sorted(n for p in pdbs for n in selected(p["spec"]["selector"]["matchLabels"])) == \
        sorted(d["metadata"]["name"] for d in deployments)  # one budget per Deployment
    for pdb in pdbs:
        # a budget of one replica that allows no disruption would block every node drain
        assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1
        (target,) = selected(pdb["spec"]["selector"]["matchLabels"])
        if "minAvailable" in pdb["spec"]:
            assert _deployment_by_name(target)["spec"]["replicas"] > pdb["spec"]["minAvailable"]
    (service,) = _of_kind("Service")
    (target,) = selected(service["spec"]["selector"])
    ports = {p["name"] for c in _deployment_by_name(target)["spec"]["template"]["spec"][
        "containers"] for p in c["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    assert target == "tickerpulse-api"


def _deployment_by_name(name: str) -> dict[str, Any]:
    (found,) = [d for d in _of_kind("Deployment") if d["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("component", sorted(HEALTH_PORT))
def test_probes_use_the_health_endpoints_on_the_configured_port(
    component: str, tmp_path: Path
) -> None:
    (container,) = _deployment(component)["spec"]["template"]["spec"]["containers"]
    settings = load_settings_from(_container_env(container), tmp_path)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert set(ports.values()) == {_setting(settings, HEALTH_PORT[component])}
    # probes come from the kubelet, not from inside the pod: the server binds every address
    assert _setting(settings, HEALTH_HOST[component]) == "0.0.0.0"
    for probe, path in [("startupProbe", "/livez"), ("livenessProbe", "/livez"),
                        ("readinessProbe", "/readyz")]:
        assert container[probe]["httpGet"]["path"] == path, (component, probe)
        assert container[probe]["httpGet"]["port"] in ports, (component, probe)
    annotations = _deployment(component)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(_setting(settings, HEALTH_PORT[component]))
    assert annotations["prometheus.io/path"] == "/metrics"


def test_every_container_env_loads_into_settings(tmp_path: Path) -> None:
    secret_values = _example_secret()
    for workload in _workloads():
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            env = _container_env(container)
            files: dict[str, str] = {}
            for key, path in env.items():
                if not (key.startswith(PREFIX) and key.endswith("_FILE")) \
                        and not path.startswith(SECRET_MOUNT):
                    continue
                files[path] = _mounted_secret_key(container, volumes, path, secret_values)
            settings = load_settings_from(env, tmp_path, files)
            if not container.get("envFrom"):
                continue  # the model build reaches no service
            assert settings.kafka.embedded is False
            assert settings.kafka.security_protocol == "SASL_SSL"
            assert settings.kafka.sasl_password.get_secret_value() == \
                secret_values["kafka-sasl-password"]
            assert settings.redis.url == secret_values["redis-url"]


def _mounted_secret_key(container: dict[str, Any], volumes: dict[str, Any], path: str,
                        secret_values: dict[str, str]) -> str:
    """The example Secret's value behind a file path; fails unless the pod mounts it."""
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        volume = volumes[mount["name"]]
        if path.startswith(prefix) and "secret" in volume:
            name = path[len(prefix):]
            items = volume["secret"].get("items")
            keys = {i["path"]: i["key"] for i in items} if items else {k: k for k in
                                                                        secret_values}
            assert name in keys, f"{container['name']}: {path} is not mounted"
            return secret_values[keys[name]].rstrip("\n")
    raise AssertionError(f"{container['name']}: no secret volume mounted at {path}")


def test_roles_cover_every_agent_and_partitions_bound_replicas(tmp_path: Path) -> None:
    agents: dict[str, set[str]] = {}
    for component in ("worker", "score"):
        (container,) = _deployment(component)["spec"]["template"]["spec"]["containers"]
        value = load_settings_from(_container_env(container), tmp_path).stream.agents
        agents[component] = {a.strip() for a in value.split(",")}
    assert agents == {"worker": {"ingest", "aggregate"}, "score": {"score"}}
    partitions = load_settings_from(_configmap_env(), tmp_path).kafka.partitions
    for deployment in _of_kind("Deployment"):
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] != "api":
            assert deployment["spec"]["replicas"] <= partitions, deployment["metadata"]["name"]
    for hpa in _of_kind("HorizontalPodAutoscaler"):
        assert hpa["spec"]["maxReplicas"] <= partitions
        assert hpa["spec"]["scaleTargetRef"]["name"] == "tickerpulse-worker"


def test_score_runs_on_gpu_nodes_with_the_model_volume() -> None:
    pod = _deployment("score")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].startswith("tickerpulse-gpu:")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    models = [m for m in container["volumeMounts"] if m["mountPath"] == "/models"]
    assert models and models[0]["readOnly"] is True
    assert _container_env(container)["HF_HUB_OFFLINE"] == "1"
    for component in ("worker", "alerts", "api"):
        other = _deployment(component)["spec"]["template"]["spec"]
        assert "nvidia.com/gpu" not in other["containers"][0]["resources"]["limits"]


def test_rules_configmap_is_a_valid_rules_file() -> None:
    (rules,) = [c for c in _of_kind("ConfigMap") if c["metadata"]["name"] == "tickerpulse-rules"]
    ruleset = parse_rules(rules["data"]["rules.yaml"], "rules-configmap.yaml")
    assert ruleset.rules
    (container,) = _deployment("alerts")["spec"]["template"]["spec"]["containers"]
    mount = [m for m in container["volumeMounts"] if m["name"] == "rules"][0]
    assert _container_env(container)["TICKERPULSE_ALERTS__RULES_PATH"] == \
        mount["mountPath"] + "/rules.yaml"


def test_example_secret_values_are_accepted_by_the_settings(tmp_path: Path) -> None:
    values = _example_secret()
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(values["webhook-endpoints.json"])
    settings = load_settings_from({"TICKERPULSE_ALERTS__ENDPOINTS_FILE": "e",
                                   "TICKERPULSE_ALERTS__DATABASE_URL_FILE": "d",
                                   "TICKERPULSE_REDIS__URL_FILE": "r"}, tmp_path,
                                  {"e": values["webhook-endpoints.json"],
                                   "d": values["database-url"], "r": values["redis-url"]})
    assert [e.name for e in settings.alerts.endpoints] == ["ops"]
    assert settings.alerts.database_url.startswith("postgresql+psycopg://")
    assert settings.redis.url.startswith("redis://")


# ----------------------------------------------------------------------------- compose

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-)(?P<default>[^}]*))?\}")


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME-default}; any other `$` form fails."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, default = match["name"], match["op"], match["default"] or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        return env.get(name, "")

    out = _VARIABLE.sub(one, value.replace("$$", "\0"))
    assert "$" not in out, f"unsupported interpolation in {value!r}"
    return out.replace("\0", "$")


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file as docker compose sees it: anchors merged, variables interpolated."""
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return typing.cast(dict[str, Any], _interpolate(raw, env or {}))


def _services(env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    return typing.cast(dict[str, dict[str, Any]], compose(env)["services"])


def _is_tickerpulse(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).split(":")[0] in ("tickerpulse", "tickerpulse-gpu")


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def test_interpolation_helper() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert _interpolate("${SET:-d}/${EMPTY:-d}/${EMPTY-d}/${UNSET-d}/${UNSET}/$$", env) == \
        "x/d//d//$"
    with pytest.raises(AssertionError):
        _interpolate("$SET", env)


@pytest.mark.parametrize("env_file", [None, "gpu.env"])
def test_compose_file_matches_the_compose_specification(env_file: str | None) -> None:
    compose_spec = pytest.importorskip("compose_spec")  # compose-spec on PyPI
    env = _env_file(DEPLOY / env_file) if env_file else {}
    spec = compose_spec.PyCompose.from_json(json.dumps(compose(env)))
    assert set(spec.service_names()) == set(_services())


def test_every_service_has_a_healthcheck_and_one_shots_are_awaited() -> None:
    services = _services()
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name}: no healthcheck"
        if _one_shot(service):
            assert check == {"disable": True}, name
        else:
            assert check["test"][0] in ("CMD", "CMD-SHELL") and not check.get("disable"), name
            assert service["restart"] == "unless-stopped", name
    for name, service in services.items():
        for target, dependency in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert not services[target].get("profiles") or \
                services[target].get("profiles") == service.get("profiles"), (name, target)
            wanted = ("service_completed_successfully" if _one_shot(services[target])
                      else "service_healthy")
            assert dependency["condition"] == wanted, (name, target)


@pytest.mark.parametrize("service,path,port", [("worker", "/readyz", 6066),
                                               ("score-gpu", "/readyz", 6066),
                                               ("alerts", "/readyz", 6067),
                                               ("api", "/readyz", 8080)])
def test_tickerpulse_healthchecks_hit_the_health_endpoint(
    service: str, path: str, port: int, tmp_path: Path
) -> None:
    spec = _services()[service]
    command = " ".join(spec["healthcheck"]["test"])
    assert command.startswith("CMD python -c "), "the image has python, not curl"
    assert f"'http://127.0.0.1:{port}{path}'" in command
    settings = load_settings_from(_environment(spec), tmp_path)
    component = {"score-gpu": "score"}.get(service, service)
    assert _setting(settings, HEALTH_PORT[component]) == port
    # Prometheus in the compose network scrapes from outside the container
    assert _setting(settings, HEALTH_HOST[component]) == "0.0.0.0"
    # the healthcheck's Python program is valid Python
    compile(spec["healthcheck"]["test"][-1], "healthcheck", "exec")


def test_kafka_keeps_topics_and_offsets_on_its_volume() -> None:
    spec = compose()
    kafka = spec["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:3.9")
    env = kafka["environment"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "a fixed KRaft cluster id"
    mounts: dict[str, str] = {}
    for volume in kafka["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    for log_dir in env["KAFKA_LOG_DIRS"].split(","):
        under = [t for t in mounts if log_dir == t or log_dir.startswith(t.rstrip("/") + "/")]
        assert under, f"{log_dir} is not on a volume"
        assert mounts[under[0]] in spec["volumes"], "a named volume, kept across recreate"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_redis_never_evicts_and_keeps_an_append_only_file() -> None:
    command = _services()["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options == {"--appendonly": "yes", "--appendfsync": "everysec",
                       "--maxmemory-policy": "noeviction"}


def test_api_is_published_on_loopback_only_by_default() -> None:
    services = _services()
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert all(p.startswith("127.0.0.1:") for ports in published.values() for p in ports)
    assert {n: p for n, p in published.items() if not services[n].get("profiles")} == \
        {"api": ["127.0.0.1:8080:8080"]}
    env = _environment(services["api"])
    assert env["TICKERPULSE_API__INSECURE"] == "false"
    exposed = _services({"TICKERPULSE_API_PUBLISH": "0.0.0.0:8443"})["api"]["ports"]
    assert exposed == ["0.0.0.0:8443:8080"]


def _agents(service: dict[str, Any]) -> set[str]:
    return {a.strip() for a in _environment(service)["TICKERPULSE_STREAM__AGENTS"].split(",")}


def test_gpu_profile_runs_the_score_role_on_an_nvidia_gpu() -> None:
    services = _services()
    gpu = services["score-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert _agents(gpu) == {"score"}
    assert gpu["image"].startswith("tickerpulse-gpu:")
    assert gpu["build"]["target"] == "gpu"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    # without the profile the CPU workers run every agent; with it they leave score to the GPU
    assert _agents(services["worker"]) == set(AGENT_NAMES)
    gpu_env = _env_file(DEPLOY / "gpu.env")
    assert gpu_env["COMPOSE_PROFILES"] == "gpu"
    assert _agents(_services(gpu_env)["worker"]) == {"ingest", "aggregate"}
    for service in ("worker", "score-gpu"):
        assert _environment(services[service])["HF_HUB_OFFLINE"] == "1"
        assert "models:/models:ro" in services[service]["volumes"]
    assert [n for n, s in services.items() if "deploy" in s] == ["score-gpu"]


def test_bind_mounts_exist_and_monitoring_scrapes_every_role() -> None:
    services = _services()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and (DEPLOY / source).resolve().is_relative_to(ROOT):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"]
               for t in c["targets"]}
    health = {}
    for name, service in services.items():
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        found = re.search(r"http://127\.0\.0\.1:(\d+)/readyz", test)
        if _is_tickerpulse(service) and found and not service.get("profiles"):
            health[f"{name}:{found[1]}"] = name
    assert targets == set(health), "Prometheus scrapes each role on its health port"
    for rules in scrape["rule_files"]:
        assert (DEPLOY / "prometheus" / rules).exists()


def test_compose_env_and_secrets_load_into_settings(tmp_path: Path) -> None:
    spec = compose()
    declared = spec["secrets"]
    for name, service in spec["services"].items():
        granted = set(service.get("secrets", []))
        assert granted <= set(declared), name
        env = _environment(service)
        for key, value in env.items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (name, key)
                assert value.removeprefix("/run/secrets/") in granted, (name, key)
        if _is_tickerpulse(service):
            settings = load_settings_from(env, tmp_path)
            assert settings.kafka.embedded is False, name
            assert settings.kafka.bootstrap_servers == "kafka:9092", name


def test_init_secrets_writes_what_compose_mounts(tmp_path: Path) -> None:
    copy_dir = tmp_path / "deploy"
    copy_dir.mkdir()
    shutil.copy(DEPLOY / "init-secrets.sh", copy_dir)
    script = copy_dir / "init-secrets.sh"
    subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=30)
    secrets_dir = copy_dir / "secrets"
    declared = {Path(s["file"]).name for s in compose()["secrets"].values()}
    assert {p.name for p in secrets_dir.iterdir()} == declared
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    password = (secrets_dir / "postgres_password").read_text().strip()
    url = (secrets_dir / "database_url").read_text().strip()
    assert len(password) >= 24 and f":{password}@postgres:5432/" in url
    before = {p.name: p.read_text() for p in secrets_dir.iterdir()}
    subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=30)
    assert {p.name: p.read_text() for p in secrets_dir.iterdir()} == before, "never overwrites"
    settings = load_settings_from(
        {"TICKERPULSE_ALERTS__DATABASE_URL_FILE": "d", "TICKERPULSE_ALERTS__ENDPOINTS_FILE": "e"},
        tmp_path, {"d": url, "e": (secrets_dir / "webhook_endpoints.json").read_text().strip()})
    assert settings.alerts.database_url == url and settings.alerts.endpoints == []
    assert (DEPLOY / "secrets" / ".gitignore").read_text().splitlines()[1:] == ["*", "!.gitignore"]


# ----------------------------------------------------------------------------- image


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in joined.splitlines() if line.strip()]


def test_dockerfile_targets_user_and_environment(tmp_path: Path) -> None:
    instructions = _dockerfile()
    args: dict[str, str] = {}
    for op, rest in instructions:
        if op == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args.setdefault(key, value)
    stages: dict[str, str] = {}
    for op, rest in instructions:
        if op == "FROM":
            image, _, name = rest.split()
            stages[name] = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image)
    assert stages["gpu"].startswith("nvidia/cuda:") and "runtime" in stages["gpu"]
    assert stages["cpu"].startswith("python:3.11")
    assert list(stages)[-1] == "cpu", "plain `docker build` gives the CPU image"
    targets = {s["build"]["target"] for s in _services().values() if "build" in s}
    assert targets == set(stages)
    env_text = " ".join(rest for op, rest in instructions if op == "ENV")
    assert "HF_HUB_OFFLINE" not in env_text, "set it where the image runs, not in the image"
    env = dict(re.findall(r"(\w+)=(\S+)", env_text))
    load_settings_from({k: v for k, v in env.items() if k.startswith(PREFIX)}, tmp_path)
    users = [rest for op, rest in instructions if op == "USER"]
    assert len(users) == len(stages) and all(u.isdigit() and u != "0" for u in users)
    for op, rest in instructions:
        if op == "COPY" and "--from" not in rest:
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source


def _dockerignore_patterns() -> list[str]:
    text = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore matching (Go filepath.Match plus `**`), as a regex."""
    out, i = "", 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "(?:/.*)?")  # a matched folder excludes what it holds


def ignored(path: str) -> bool:
    verdict = False
    for pattern in _dockerignore_patterns():
        negate = pattern.startswith("!")
        if _pattern_regex(pattern.lstrip("!")).fullmatch(path):
            verdict = not negate
    return verdict


def test_dockerignore_keeps_the_sources_and_drops_the_rest() -> None:
    for path in (".venv/bin/python", ".git/HEAD", "var/tickerpulse.db", "tests/unit/x.py",
                 "models/__pycache__/engine.cpython-311.pyc", "runs/default/events",
                 "deploy/secrets/database_url", "model/onnx/model.int8.onnx",
                 "tickerpulse.egg-info/PKG-INFO", ".mypy_cache/x", ".pytest_cache/v",
                 "some/model.safetensors"):
        assert ignored(path), path
    copied = [rest.split()[:-1] for op, rest in _dockerfile() if op == "COPY"]
    sources = {s for group in copied for s in group}
    tracked = subprocess.run(["git", "ls-files", *sources], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    assert len(tracked) > 50
    kept_out = [p for p in tracked if ignored(p)]
    assert not kept_out, f".dockerignore drops files the image needs: {kept_out[:5]}"
