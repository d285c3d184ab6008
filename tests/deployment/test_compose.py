"""docker-compose.yml (and docker-compose.real.yml added to it) without a Docker engine: parsed by a real
compose implementation (Debian's docker-compose, whose `config` validates against the compose schema and
resolves merges and paths), then checked for what the stack promises: two vantages on one emulator, a
clustered Alertmanager pair, the key only from a secret (and only in the real file, so that a fresh clone's
demo gets no warning), and Prometheus/Alertmanager/Grafana running the repository's own config files, the
very files the end-to-end tests run (tests/e2e/conftest.py). A real Prometheus started on the compose layout
discovers the stack's monitors and both Alertmanagers from the compose target files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config.settings import load_settings
from tests.dashboards.conftest import DASHBOARD_DIR
from tests.e2e.conftest import ALERTMANAGER_YML, PROMETHEUS_YML, RULES_DIR

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
COMPOSE_REAL = REPO / "docker-compose.real.yml"
MONITORS = ("monitor-eu", "monitor-us")
DEMO_SERVICES = {"emulator", *MONITORS, "prometheus", "alertmanager-1", "alertmanager-2", "grafana"}


def compose(*args: str, real: bool = False) -> str:
    files = [COMPOSE, COMPOSE_REAL] if real else [COMPOSE]
    result = subprocess.run(
        ["docker-compose", "--project-directory", str(REPO), *(f"-f{f}" for f in files), *args],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warning either
    return result.stdout


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """The demo stack (`docker compose up`) as docker-compose resolves it."""
    resolved: dict[str, Any] = yaml.safe_load(compose("config"))
    return resolved


@pytest.fixture(scope="module")
def real_stack() -> dict[str, Any]:
    """docker-compose.yml plus docker-compose.real.yml (`-f ... -f ...`), as docker-compose merges them."""
    resolved: dict[str, Any] = yaml.safe_load(compose("config", real=True))
    return resolved


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (compose resolves them to absolute paths)."""
    binds: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target, *_ = (
            volume.split(":") if isinstance(volume, str) else (volume["source"], volume["target"])
        )
        if source.startswith("/"):
            binds[target] = Path(source)
    return binds


def flag(service: dict[str, Any], name: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in service["command"] if arg.startswith(f"--{name}=")]


def test_the_default_stack_is_the_demo_and_names_no_secret(stack: dict[str, Any]) -> None:
    """`up` alone is the demo: no key, and no secret file for a fresh clone to lack."""
    assert set(stack["services"]) == DEMO_SERVICES
    assert "secrets" not in stack
    assert all("secrets" not in service for service in stack["services"].values())


def test_the_real_file_adds_the_real_monitor(real_stack: dict[str, Any]) -> None:
    assert set(real_stack["services"]) == DEMO_SERVICES | {"monitor-real"}


# Every docker-compose 1.29 command but `config` first builds a Project, which is where it warns about a
# missing secret file (compose/project.py get_secrets). Build it as they do, with an engine that has nothing.
PROJECT_WARNINGS = """
import logging, sys
from docker.errors import NotFound
from compose.config import config
from compose.config.environment import Environment
from compose.project import Project

class NoEngine:
    def __getattr__(self, name):
        def missing(*args, **kwargs):
            raise NotFound(name)
        return missing

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="WARNING: %(message)s")
details = config.find(sys.argv[1], sys.argv[2:], Environment.from_env_file(sys.argv[1]))
Project.from_config("live-monitor", config.load(details), client=NoEngine())
"""


def project_warnings(clone: Path, *files: Path) -> str:
    """What docker-compose 1.29 warns when it loads `files` copied into `clone` (fresh: no key file)."""
    (clone / "secrets").mkdir()
    for file in files:
        shutil.copy2(file, clone / file.name)
    compose_bin = shutil.which("docker-compose")
    assert compose_bin is not None
    interpreter = Path(compose_bin).read_text(encoding="utf-8", errors="replace").splitlines()[0][2:].strip()
    result = subprocess.run(
        [interpreter, "-c", PROJECT_WARNINGS, str(clone), *(str(clone / f.name) for f in files)],
        capture_output=True, text=True, check=False, cwd=clone,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_fresh_clone_gets_no_compose_warning(tmp_path: Path) -> None:
    """The demo's docker-compose commands print no warning, although secrets/gemini_api_key does not exist."""
    assert project_warnings(tmp_path, COMPOSE) == ""


def test_the_real_file_warns_until_the_key_file_exists(tmp_path: Path) -> None:
    """The real stack names the key file: docker-compose warns while it is missing (the check is live)."""
    warnings = project_warnings(tmp_path, COMPOSE, COMPOSE_REAL)
    assert 'uses an undefined secret file "' + str(tmp_path / "secrets/gemini_api_key") in warnings


def test_monitors_are_two_vantages_on_one_emulator(stack: dict[str, Any]) -> None:
    services = stack["services"]
    emulator = services["emulator"]["command"]
    emulator_port = emulator[emulator.index("--port") + 1]
    vantages = set()
    for name in MONITORS:
        monitor = services[name]
        assert monitor["command"] == ["run", "--demo"]
        assert monitor["read_only"] is True
        environment = monitor["environment"]
        url = environment["LIVE_MONITOR_DEMO__EMULATOR_URL"]
        assert re.match(rf"^ws://emulator:{emulator_port}/", url), url
        vantages.add(environment["LIVE_MONITOR_VANTAGE"])
    assert len(vantages) == len(MONITORS)


def test_monitor_environment_is_a_valid_configuration(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image's config file plus each monitor's environment passes the daemon's own validation."""
    for name in MONITORS:
        environment = stack["services"][name]["environment"]
        with monkeypatch.context() as patch:
            for key, value in environment.items():
                patch.setenv(key, str(value))
            settings = load_settings(str(REPO / "config/monitor.yaml"), demo=True)
        assert settings.vantage == environment["LIVE_MONITOR_VANTAGE"]
        assert settings.demo.emulator_url == environment["LIVE_MONITOR_DEMO__EMULATOR_URL"]


def test_the_real_monitor_takes_its_key_from_a_secret_only(real_stack: dict[str, Any]) -> None:
    stack = real_stack
    real = stack["services"]["monitor-real"]
    assert real["command"] == ["run"]
    (secret,) = real["secrets"]
    name = secret if isinstance(secret, str) else secret["source"]
    assert real["environment"]["GEMINI_API_KEY_FILE"] == f"/run/secrets/{name}"
    assert "file" in stack["secrets"][name]
    for service in stack["services"].values():
        assert "GEMINI_API_KEY" not in service.get("environment", {})
        assert "build" not in service or "args" not in service["build"]


def test_prometheus_targets_name_the_stack_and_its_vantages(stack: dict[str, Any]) -> None:
    services = stack["services"]
    prometheus = services["prometheus"]
    targets_dir = mounts(prometheus)["/etc/prometheus/targets"]
    groups = yaml.safe_load((targets_dir / "monitors.yml").read_text())
    scraped = {target: group["labels"]["vantage"] for group in groups for target in group["targets"]}
    expected = {
        f"{name}:9478": services[name]["environment"]["LIVE_MONITOR_VANTAGE"]
        for name in services
        if name.startswith("monitor-") and "real" not in name
    }
    assert {t: v for t, v in scraped.items() if t in expected} == expected
    managers = yaml.safe_load((targets_dir / "alertmanagers.yml").read_text())
    listed = {target for group in managers for target in group["targets"]}
    assert listed == {f"{name}:9093" for name in services if name.startswith("alertmanager-")}


def test_the_real_file_scrapes_the_real_monitor_alone(
    stack: dict[str, Any], real_stack: dict[str, Any]
) -> None:
    """With docker-compose.real.yml added, Prometheus mounts targets-real: monitor-real only."""
    targets_dir = mounts(real_stack["services"]["prometheus"])["/etc/prometheus/targets"]
    assert targets_dir == REPO / "config/compose/targets-real"
    groups = yaml.safe_load((targets_dir / "monitors.yml").read_text())
    scraped = {target: group["labels"]["vantage"] for group in groups for target in group["targets"]}
    real = real_stack["services"]["monitor-real"]
    assert scraped == {"monitor-real:9478": real["environment"]["LIVE_MONITOR_VANTAGE"]}
    demo_managers = mounts(stack["services"]["prometheus"])["/etc/prometheus/targets"] / "alertmanagers.yml"
    assert (targets_dir / "alertmanagers.yml").read_text() == demo_managers.read_text()


def test_alertmanager_replicas_form_one_cluster(stack: dict[str, Any]) -> None:
    services = stack["services"]
    replicas = sorted(name for name in services if name.startswith("alertmanager-"))
    assert len(replicas) == 2
    for name in replicas:
        (listen,) = flag(services[name], "cluster.listen-address")
        port = listen.rsplit(":", 1)[1]
        peers = set(flag(services[name], "cluster.peer"))
        assert peers == {f"{other}:{port}" for other in replicas if other != name}


def test_servers_mount_the_files_the_end_to_end_tests_run(stack: dict[str, Any]) -> None:
    services = stack["services"]
    prometheus = services["prometheus"]
    (config_file,) = flag(prometheus, "config.file")
    binds = mounts(prometheus)
    assert binds[config_file] == PROMETHEUS_YML
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    # Rule files and targets are relative to the config file: they must land beside it in the container.
    config_dir = str(Path(config_file).parent)
    for pattern in config["rule_files"]:
        assert binds[f"{config_dir}/{Path(pattern).parent}"] == RULES_DIR
    assert f"{config_dir}/targets" in binds
    for replica in ("alertmanager-1", "alertmanager-2"):
        (am_config,) = flag(services[replica], "config.file")
        assert mounts(services[replica])[am_config] == ALERTMANAGER_YML
    grafana = mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == REPO / "config/grafana/provisioning"
    provider = yaml.safe_load((REPO / "config/grafana/provisioning/dashboards/live-monitor.yml").read_text())
    (dashboards,) = provider["providers"]
    assert grafana[dashboards["options"]["path"]] == DASHBOARD_DIR
    # Grafana's datasource points at the compose Prometheus and knows its scrape interval
    # ($__rate_interval is derived from it).
    sources = yaml.safe_load((REPO / "config/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in services
    assert source["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]


def test_images_fit_the_shipped_files(stack: dict[str, Any]) -> None:
    services = stack["services"]
    # keep_firing_for in the rules needs Prometheus >= 2.42.
    major, minor = (int(part) for part in services["prometheus"]["image"].split(":v")[1].split(".")[:2])
    assert (major, minor) >= (2, 42)
    # The dashboards are generated by the grafana-foundation-sdk flavour pinned in pyproject.toml.
    flavour = re.search(r"grafana-foundation-sdk==\d+!(\d+\.\d+)", (REPO / "pyproject.toml").read_text())
    assert flavour is not None
    assert services["grafana"]["image"].split(":")[1].startswith(flavour.group(1) + ".")


def test_alertmanager_config_passes_amtool() -> None:
    result = subprocess.run(
        ["amtool", "check-config", str(ALERTMANAGER_YML)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def test_prometheus_discovers_the_stack_from_the_compose_layout(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    """The compose bind mounts recreated on disk; a real Prometheus finds both vantages and both replicas."""
    prometheus = stack["services"]["prometheus"]
    for target, source in mounts(prometheus).items():
        place = tmp_path / target.lstrip("/")
        place.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, place)
        else:
            shutil.copy2(source, place)
    (config_file,) = flag(prometheus, "config.file")
    config = tmp_path / config_file.lstrip("/")
    check = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    server = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = get_json(f"http://127.0.0.1:{port}/api/v1/targets")["data"]["activeTargets"]
                managers = get_json(f"http://127.0.0.1:{port}/api/v1/alertmanagers")["data"]
                if len(targets) >= len(MONITORS) and managers["activeAlertmanagers"]:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not discover the compose targets"
            time.sleep(0.5)
        vantages = {t["labels"]["instance"]: t["labels"]["vantage"] for t in targets}
        assert {t["labels"]["job"] for t in targets} == {"gemini-live-monitor"}
        services = stack["services"]
        assert vantages == {
            f"{name}:9478": services[name]["environment"]["LIVE_MONITOR_VANTAGE"] for name in MONITORS
        }
        urls = {m["url"] for m in managers["activeAlertmanagers"]}
        assert urls == {f"http://alertmanager-{i}:9093/api/v2/alerts" for i in (1, 2)}
    finally:
        server.terminate()
        server.wait(timeout=30)
