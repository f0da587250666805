"""deploy/: the compose file, the Kubernetes manifests, the HAProxy configs and the Asterisk dialplan start only
what the seat has, with settings the seat reads, on ports that agree with each other.

Checked here without Docker or a cluster: every seat container runs a `seat serve` service that exists (asked from
the seat's own command line), every environment variable set for the seat is one ground/settings.py reads, and
the settings the seat builds from each container's environment (`Settings.from_env`) point at the services that
exist, on the ports they listen on; HAProxy parses both configs (`haproxy -c`); `docker compose config` validates
the compose file where the compose plugin is installed (it is not on the box this was written on: skipped).
"""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from urllib.parse import urlparse

import pytest
import yaml

from ground.settings import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
SEAT_IMAGE = "hotline-seat"
SECRETS = ("RASA_AUTH_TOKEN", "ACTION_TOKEN", "WEB_PUSH_TOKEN", "VOICE_CONTROL_TOKEN", "OPT_OUT_SECRET", "ADMIN_SECRET")
DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def seat_subcommands() -> dict[str, set[str]]:
    """The seat's CLI as its parser defines it: {subcommand: choices of its first positional, or empty}."""
    out = subprocess.run([sys.executable, "-m", "seat", "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True).stdout
    commands = set(re.search(r"\{([a-z,-]+)\}", out)[1].split(","))
    serve = subprocess.run([sys.executable, "-m", "seat", "serve", "--help"], cwd=REPO_ROOT, capture_output=True,
                           text=True, check=True).stdout
    return {**{c: set() for c in commands}, "serve": set(re.search(r"\{([a-z,]+)\}", serve)[1].split(","))}


def names_read_by_settings() -> set[str]:
    """Upper-case string constants of ground/settings.py: the environment variables the seat can read."""
    tree = ast.parse((REPO_ROOT / "ground" / "settings.py").read_text(encoding="utf-8"))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", n.value)}


def port_of(url: str) -> int:
    return urlparse(url).port


@pytest.fixture(scope="module")
def cli() -> dict[str, set[str]]:
    return seat_subcommands()


@pytest.fixture(scope="module")
def known_env() -> set[str]:
    return names_read_by_settings()


def check_command(command: list[str], cli: dict[str, set[str]], where: str) -> str | None:
    """The `seat serve` service a container command runs (None for the one-shot setup); fails on anything else."""
    if command[:2] == ["sh", "-c"]:
        steps = [step.split() for step in command[2].split("&&")]
        assert all(s[0] == "seat" and s[1] in cli and len(s) == 2 for s in steps), f"{where}: {command}"
        assert [s[1] for s in steps] == ["prepare", "train"], f"{where}: setup is prepare then train"
        return None
    assert command[:2] == ["seat", "serve"] and len(command) == 3, f"{where}: {command}"
    assert command[2] in cli["serve"], f"{where}: `seat serve {command[2]}` does not exist"
    return command[2]


# -- compose -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))


def seat_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if str(s.get("image", "")).startswith(SEAT_IMAGE)}


def resolved_env(service: dict) -> dict[str, str]:
    """The service's environment as the seat would get it, `${VAR:?...}` replaced by a usable secret."""
    env = {}
    for key, value in service["environment"].items():
        value = str(value)
        if value.startswith("${"):
            name = re.fullmatch(r"\$\{([A-Z_]+):\?[^}]*\}", value)[1]
            assert name == key, f"{key} takes its value from ${name}"
            value = f"test-{key.lower().replace('_', '-')}-0123456789"
        env[key] = value
    return env


def haproxy_backends(cfg: str) -> dict[str, dict]:
    """{backend name: {"health": path, "targets": {host: port}}} of an HAProxy config; frontends' binds."""
    out: dict[str, dict] = {}
    current = None
    for line in cfg.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] in ("backend", "frontend", "defaults", "global", "resolvers"):
            current = out.setdefault(f"{words[0]} {words[1] if len(words) > 1 else ''}".strip(),
                                     {"targets": {}, "health": None, "bind": None, "backend": None})
        elif current is None:
            continue
        elif words[:2] == ["option", "httpchk"]:
            current["health"] = words[3]
        elif words[0] == "server-template":
            host, port = words[3].rsplit(":", 1)
            current["targets"][host] = port
        elif words[0] == "bind":
            current["bind"] = words[1].rsplit(":", 1)[1]
        elif words[0] == "default_backend":
            current["backend"] = words[1]
    return out


def test_compose_runs_every_seat_service_and_its_dependencies(compose, cli):
    services = compose["services"]
    served = {check_command(s["command"], cli, name) for name, s in seat_services(compose).items()} - {None}
    assert served == cli["serve"], "every `seat serve` service is deployed"
    assert {"postgres", "redis", "balancer", "setup"} <= set(services)
    assert services["rasa"]["deploy"]["replicas"] >= 2
    assert [n for n, s in seat_services(compose).items() if s["command"][-1] == "voice"] == ["voice1", "voice2"]
    for name, svc in seat_services(compose).items():
        if name not in ("setup",):
            assert svc["depends_on"]["setup"]["condition"] == "service_completed_successfully", name


def test_compose_sets_only_variables_the_seat_reads(compose, known_env):
    for name, svc in seat_services(compose).items():
        unknown = set(svc["environment"]) - known_env
        assert not unknown, f"{name} sets variables ground/settings.py never reads: {unknown}"
        for secret in SECRETS:  # secrets come from the operator's environment, never a literal in the file
            if secret in svc["environment"]:
                assert str(svc["environment"][secret]).startswith(f"${{{secret}:?"), (name, secret)
        Settings.from_env(resolved_env(svc))  # a bad value would raise, naming the variable


def test_compose_services_find_each_other(compose):
    services = compose["services"]
    cfg = haproxy_backends((DEPLOY / "haproxy.cfg").read_text(encoding="utf-8"))
    settings = {name: Settings.from_env(resolved_env(svc)) for name, svc in seat_services(compose).items()}
    rasa, actions = settings["rasa"], settings["actions"]
    # Rasa and the action server listen beyond loopback on the ports their peers use
    assert (rasa.internal.rasa_host, actions.internal.action_host) == ("0.0.0.0", "0.0.0.0")
    assert services["rasa"]["expose"] == [str(rasa.rasa.port)]
    assert services["actions"]["expose"] == [str(actions.rasa.action_port)]
    endpoint = urlparse(rasa.rasa.action_endpoint)
    assert (endpoint.hostname, endpoint.port) == ("actions", actions.rasa.action_port)
    # HAProxy: chat to the Rasa replicas, the page and the console, each checked on its health answer
    chat, page, console = cfg["frontend chat"], cfg["frontend page"], cfg["frontend console"]
    assert cfg[f"backend {chat['backend']}"]["targets"] == {"rasa": str(rasa.rasa.port)}
    assert cfg[f"backend {chat['backend']}"]["health"] == "/"
    assert cfg[f"backend {page['backend']}"]["targets"] == {"web": str(settings["web"].web.port)}
    assert cfg[f"backend {page['backend']}"]["health"] == "/health"
    assert cfg[f"backend {console['backend']}"]["targets"] == {"admin": str(settings["admin"].admin.port)}
    assert cfg[f"backend {console['backend']}"]["health"] == "/healthz"
    assert services["web"]["expose"] == [str(settings["web"].web.port)]
    assert services["admin"]["expose"] == [str(settings["admin"].admin.port)]
    published = {p.rsplit(":", 2)[-1] for p in services["balancer"]["ports"]}
    assert published == {page["bind"], console["bind"]}, "the page and the console are published; chat is not"
    assert any(p.startswith("127.0.0.1:") and p.endswith(console["bind"]) for p in services["balancer"]["ports"])
    # every channel reaches Rasa through the balancer; the console publishes models there
    for name in ("voice1", "voice2", "web", "callbacks"):
        url = urlparse(settings[name].rasa.url)
        assert (url.hostname, str(url.port)) == ("balancer", chat["bind"]), name
    assert settings["admin"].admin.rasa_urls == (f"http://balancer:{chat['bind']}",)
    # the voice gateways listen for Asterisk on published ports; the callbacks reach one by name
    for name in ("voice1", "voice2"):
        voice = settings[name].voice
        assert (voice.audiosocket_host, voice.control_host) == ("0.0.0.0", "0.0.0.0")
        container_ports = {p.rsplit(":", 1)[1] for p in services[name]["ports"]}
        assert container_ports == {str(voice.audiosocket_port), str(voice.control_port)}, name
    gateway = urlparse(settings["callbacks"].callbacks.gateway_url)
    assert (gateway.hostname, gateway.port) == ("voice1", settings["voice1"].voice.control_port)
    push = urlparse(settings["callbacks"].callbacks.web_push_url)
    assert (push.hostname, push.port, push.path) == ("web", settings["web"].web.port, "/internal/push")
    host_ports = [p.rsplit(":", 1)[0] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), "no host port published twice"


def test_dockerfile_installs_the_seat():
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.10", text, re.M), "Rasa 3.6 needs Python 3.10"
    assert "pip install --no-cache-dir -e ." in text and "espeak-ng" in text
    assert re.search(r'^CMD \["seat", "serve", "[a-z]+"\]', text, re.M)


def haproxy_check(path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/bin", **(env or {})})


NODES_ENV = {"SEAT_LB_HOST": "127.0.0.1", "SEAT_LB_CHAT_PORT": "5005", "SEAT_LB_PAGE_PORT": "8000",
             "SEAT_LB_ADMIN_PORT": "8080", "NODE1_HOST": "10.0.0.11", "NODE2_HOST": "10.0.0.12",
             **{f"NODE{n}_{k}_PORT": p for n in (1, 2) for k, p in (("RASA", "5005"), ("WEB", "8000"), ("ADMIN", "8080"))}}


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy is not installed (scripts/system-deps.sh)")
def test_haproxy_configs_parse():
    # compose: the `docker` resolver is only reachable inside Docker; HAProxy still parses the whole file
    result = haproxy_check(DEPLOY / "haproxy.cfg")
    assert result.returncode == 0, result.stdout + result.stderr
    result = haproxy_check(DEPLOY / "haproxy-nodes.cfg", NODES_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nodes_balancer_checks_each_service_on_its_health_answer():
    cfg = haproxy_backends((DEPLOY / "haproxy-nodes.cfg").read_text(encoding="utf-8"))
    assert {b: cfg[f"backend {b}"]["health"] for b in ("rasa", "web", "admin")} == {
        "rasa": "/", "web": "/health", "admin": "/healthz"}
    text = (DEPLOY / "haproxy-nodes.cfg").read_text(encoding="utf-8")
    servers = re.findall(r'server node(\d) "\$\{NODE(\d)_HOST\}:\$\{NODE(\d)_([A-Z]+)_PORT\}"', text)
    assert all(a == b == c for a, b, c, _ in servers), "each server line names one node"
    assert sorted((n, kind) for n, _, _, kind in servers) == sorted(
        (n, kind) for n in "12" for kind in ("RASA", "WEB", "ADMIN")), "both nodes' rasa, web and admin servers"


def test_docker_compose_config_validates():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run([docker, "compose", "-f", str(DEPLOY / "compose.yml"), "config", "-q"],
                            capture_output=True, text=True,
                            env={**{s: "x" * 32 for s in SECRETS}, "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 0, result.stderr


# -- Kubernetes ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "seat.yaml").read_text(encoding="utf-8")) if d]


def by_kind(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in manifests if d["kind"] == kind}


def workloads(manifests: list[dict]) -> dict[str, dict]:
    return {**by_kind(manifests, "Deployment"), **by_kind(manifests, "StatefulSet")}


def k8s_env(manifests: list[dict]) -> dict[str, str]:
    return {**by_kind(manifests, "ConfigMap")["seat-env"]["data"],
            **by_kind(manifests, "Secret")["seat-secrets"]["stringData"]}


API_VERSIONS = {"ConfigMap": "v1", "Secret": "v1", "Service": "v1", "PersistentVolumeClaim": "v1",
                "Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1"}


def test_manifests_are_well_formed(manifests):
    names = set()
    for doc in manifests:
        assert API_VERSIONS[doc["kind"]] == doc["apiVersion"], doc["metadata"]
        assert DNS_1123.fullmatch(doc["metadata"]["name"]), doc["metadata"]
        names.add((doc["kind"], doc["metadata"]["name"]))
    assert len(names) == len(manifests), "no two objects of a kind share a name"
    for name, work in workloads(manifests).items():
        labels = work["spec"]["template"]["metadata"]["labels"]
        assert work["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        pod = work["spec"]["template"]["spec"]
        volumes = {v["name"] for v in pod.get("volumes", [])} | {
            t["metadata"]["name"] for t in work["spec"].get("volumeClaimTemplates", [])}
        for c in pod["containers"]:
            assert {m["name"] for m in c.get("volumeMounts", [])} <= volumes, name
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in c:
                    assert {"httpGet", "exec"} & set(c[probe]), (name, probe)
        if work["kind"] == "StatefulSet":
            assert work["spec"]["serviceName"] in by_kind(manifests, "Service"), name
    claims = set(by_kind(manifests, "PersistentVolumeClaim"))
    for doc in manifests:
        pod = doc["spec"]["template"]["spec"] if doc["kind"] in ("Deployment", "StatefulSet", "Job") else {}
        for v in pod.get("volumes", []):
            assert v["persistentVolumeClaim"]["claimName"] in claims


def test_manifests_run_every_seat_service_with_settings_it_reads(manifests, cli, known_env):
    env = k8s_env(manifests)
    assert not set(env) - known_env, f"variables ground/settings.py never reads: {set(env) - known_env}"
    Settings.from_env(env)
    served = set()
    for doc in [*workloads(manifests).values(), *by_kind(manifests, "Job").values()]:
        for c in doc["spec"]["template"]["spec"]["containers"]:
            if not c["image"].startswith(SEAT_IMAGE):
                continue
            served.add(check_command(c["command"], cli, doc["metadata"]["name"]))
            refs = {r.get("configMapRef", r.get("secretRef"))["name"] for r in c["envFrom"]}
            assert refs == {"seat-env", "seat-secrets"}, doc["metadata"]["name"]
    assert served - {None} == cli["serve"]
    assert workloads(manifests)["rasa"]["spec"]["replicas"] >= 2
    assert workloads(manifests)["voice"]["spec"]["replicas"] == 2


def test_manifest_services_and_urls_agree(manifests):
    settings = Settings.from_env(k8s_env(manifests))
    works, services = workloads(manifests), by_kind(manifests, "Service")
    listening = {"rasa": settings.rasa.port, "actions": settings.rasa.action_port, "voice": settings.voice.control_port,
                 "web": settings.web.port, "admin": settings.admin.port}
    for name, port in listening.items():
        (container,) = works[name]["spec"]["template"]["spec"]["containers"]
        assert port in {p["containerPort"] for p in container["ports"]}, name
        assert container["readinessProbe"]["httpGet"]["port"] == port, name
    assert (settings.internal.rasa_host, settings.internal.action_host, settings.web.host, settings.admin.host,
            settings.voice.audiosocket_host, settings.voice.control_host) == ("0.0.0.0",) * 6
    for name, svc in services.items():
        target = works[name]
        container = target["spec"]["template"]["spec"]["containers"][0]
        assert svc["spec"]["selector"].items() <= target["spec"]["template"]["metadata"]["labels"].items(), name
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= {p["containerPort"] for p in container["ports"]}

    def reaches(url: str, service: str) -> None:
        parsed = urlparse(url if "://" in url else f"x://{url}")
        host = parsed.hostname.split(".")
        if services[service]["spec"].get("clusterIP") == "None":  # a StatefulSet pod by its stable name
            assert host[1] == service and re.fullmatch(rf"{service}-(\d+)", host[0]), url
            assert int(host[0].rsplit("-", 1)[1]) < works[service]["spec"]["replicas"], url
        else:
            assert host == [service], url
        assert parsed.port in {p["port"] for p in services[service]["spec"]["ports"]}, url

    reaches(settings.rasa.action_endpoint, "actions")
    reaches(settings.rasa.url, "rasa")
    for url in settings.admin.rasa_urls:
        reaches(url, "rasa")
    reaches(settings.callbacks.gateway_url, "voice")
    reaches(settings.callbacks.web_push_url, "web")
    reaches(settings.db.url.split("@", 1)[1], "postgres")
    reaches(settings.db.redis_url, "redis")


# -- Asterisk ------------------------------------------------------------------------------------
def test_dialplan_spreads_calls_over_two_gateways_on_their_ports(compose):
    text = (DEPLOY / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    gateways = re.findall(r"^SEAT_GW(\d)=(\S+)", text, re.M)
    assert [n for n, _ in gateways] == ["1", "2"]
    voice = Settings.from_env(resolved_env(compose["services"]["voice1"])).voice
    audiosockets = set(re.findall(r"AudioSocket\([^,]+,\$\{[^}]*\}\}?:(\d+)\)", text))
    controls = set(re.findall(r"CURL\(http://\$\{GW\}:(\d+)/calls/", text))
    assert audiosockets == {str(voice.audiosocket_port)} and controls == {str(voice.control_port)}
    assert "Set(GLOBAL(SEAT_NEXT)=${OTHER})" in text, "round robin"
    assert text.count("CURL(http://${GW}:9093/calls/${CALL_UUID},caller=") == 2, "the second gateway when the first is down"
