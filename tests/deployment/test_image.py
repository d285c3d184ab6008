"""The container image without a Docker engine: the Dockerfile linted, its rules checked, and its own install
and start steps replayed on this machine as the image would run them.

The replay reads the Dockerfile (tests/deployment/dockerfile.py) and carries out its instructions under a
scratch root directory: every absolute path of the image is mapped below it. The build stage's COPYs copy the
same files, its RUN runs the same command; then the services of docker-compose.yml (the emulator and a demo
monitor) start from the installed virtualenv with the final stage's ENV, as the image's USER (uid 10001, via
setpriv when the tests run as root), with the working directory and every copied file read-only to that user
and only the VOLUME and a /tmp (compose's tmpfs) writable. The image's HEALTHCHECK command is what decides
that the monitor is up. Debian's /usr/bin/python3 (3.11, like the python:3.11 base) stands in for the base
image's Python, since a Python under /root is out of reach of uid 10001.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.deployment.dockerfile import Stage, read_dockerfile

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
# The python:3.11-slim image's PATH, minus /usr/local (where its Python lives; ours is Debian's).
IMAGE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def stages() -> tuple[Stage, Stage]:
    build, final = read_dockerfile(DOCKERFILE)
    return build, final


def test_hadolint_passes_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or "hadolint"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_the_image_rules() -> None:
    build, final = stages()
    assert build.name == "build"
    for stage in (build, final):
        assert stage.base.startswith("python:3.11-slim"), stage.base
    # Non-root, numerically (Kubernetes' runAsNonRoot cannot check a user name).
    (user,) = final.all("USER")
    uid = user.arguments.split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    # The key is never baked in: no build arguments, no ENV that holds a key.
    text = DOCKERFILE.read_text()
    assert "ARG " not in text
    for key, value in final.env().items():
        assert not any(word in key for word in ("KEY", "TOKEN", "SECRET", "PASSWORD")) or value.startswith(
            "/run/secrets/"
        ), key
    # The store lives on the declared volume.
    (volume,) = final.all("VOLUME")
    assert final.env()["LIVE_MONITOR_STORE__PATH"].startswith(volume.exec_form()[0] + "/")
    (health,) = final.all("HEALTHCHECK")
    assert "/healthz" in health.arguments


# --- the replay ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ImageRoot:
    """The image's filesystem, below a scratch directory, and how to run its commands as its user."""

    def __init__(self, root: Path, uid: int) -> None:
        self.root = root
        self.uid = uid

    def host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def map_value(self, value: str) -> str:
        """An ENV value or argv token with the image's absolute paths mapped below the root."""
        parts = [
            str(self.host(p)) if p.startswith("/") else (IMAGE_PATH if p == "$PATH" else p)
            for p in value.split(":")
        ]
        return ":".join(parts)

    def give(self, path: Path) -> None:
        """Make `path` (a VOLUME, the venv's parent, /tmp) the image user's own."""
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.uid)

    def seal(self, keep: list[Path]) -> None:
        """Everything below the root but `keep` becomes read-only to the image's user: root's, as COPY makes
        it, when the tests run as root; otherwise (the tests' user is the image's user) without write bits."""
        for path in [self.root, *self.root.rglob("*")]:
            if any(path == k or k in path.parents for k in keep):
                continue
            if os.geteuid() == 0:
                os.lchown(path, 0, 0)
            elif not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)

    def argv(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv  # already not root
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", *argv]

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": IMAGE_PATH,
            "HOME": "/nonexistent",
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.host("/tmp")),
            # pip's index settings of this machine (where wheels come from), nothing else of ours.
            **{k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.endswith("CA_BUNDLE")},
            **{k: v for k, v in os.environ.items() if k in ("SSL_CERT_FILE", "SSL_CERT_DIR")},
        }


def copy_into(image: ImageRoot, workdir: str, arguments: str) -> None:
    *sources, dest = shlex.split(arguments)
    target = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
    into_dir = dest.endswith("/") or len(sources) > 1
    for source in sources:
        origin = REPO / source
        place = image.host(target) / origin.name if into_dir else image.host(target)
        place.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, place, symlinks=True)
        else:
            shutil.copy2(origin, place)


def replay_build(image: ImageRoot, build: Stage, final: Stage) -> None:
    workdir = "/"
    for instruction in build.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = instruction.arguments
        elif instruction.keyword == "COPY":
            copy_into(image, workdir, instruction.arguments)
        elif instruction.keyword == "RUN":
            # The build stage writes only its output venv (COPY --from=build'd into the final image) and
            # /tmp; the project directory it builds from is read-only.
            outputs = [
                image.host(copy.arguments.split()[1]).parent
                for copy in final.all("COPY")
                if copy.arguments.startswith("--from=build ")
            ]
            for output in outputs:
                image.give(output)
            image.seal(keep=[*outputs, image.host("/tmp")])
            argv = [image.map_value(token) for token in shlex.split(instruction.arguments)]
            result = subprocess.run(
                image.argv(argv),
                cwd=image.host(workdir),
                env=image.base_env(),
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
            assert result.returncode == 0, f"RUN {instruction.arguments}\n{result.stdout}\n{result.stderr}"
        else:
            raise AssertionError(f"the replay does not handle {instruction.keyword} in the build stage")


def replay_final(image: ImageRoot, final: Stage) -> dict[str, str]:
    """The final stage's files and user; returns its ENV mapped below the root."""
    for instruction in final.instructions:
        if instruction.keyword == "COPY":
            source, dest = instruction.arguments.removeprefix("--from=build ").split()
            if instruction.arguments.startswith("--from=build "):
                # A virtualenv is not relocatable: the image keeps it where the build stage made it (sealed
                # below, as COPY without --chown makes it root's).
                assert source == dest, instruction.arguments
            else:
                copy_into(image, "/", instruction.arguments)
        elif instruction.keyword == "RUN":
            # The one RUN creates the user and the volume directory; the replay's user is a bare uid.
            assert f"--uid {image.uid}" in instruction.arguments, instruction.arguments
        elif instruction.keyword == "VOLUME":
            for volume in instruction.exec_form():
                image.give(image.host(volume))
    volumes = [image.host(v) for volume in final.all("VOLUME") for v in volume.exec_form()]
    image.seal(keep=[*volumes, image.host("/tmp")])
    return {key: image.map_value(value) for key, value in final.env().items()}


def compose_service(name: str) -> dict[str, object]:
    service: dict[str, object] = yaml.safe_load(COMPOSE.read_text())["services"][name]
    return service


@pytest.fixture(scope="module")
def image() -> Iterator[ImageRoot]:
    _, final = stages()
    (user,) = final.all("USER")
    root = Path(tempfile.mkdtemp(prefix="live-monitor-image-"))
    root.chmod(0o755)
    image = ImageRoot(root, int(user.arguments.split(":")[0]))
    image.host("/tmp").mkdir()
    image.host("/tmp").chmod(0o1777)  # as in every image (and compose's tmpfs)
    try:
        yield image
    finally:
        if os.geteuid() != 0:  # sealed without write bits: give them back so the tree can go
            subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def snapshot(root: Path, writable: list[Path]) -> dict[str, float]:
    files: dict[str, float] = {}
    for path in root.rglob("*"):
        if any(path == w or w in path.parents for w in writable):
            continue
        files[str(path)] = path.lstat().st_mtime
    return files


@pytest.mark.slow
def test_image_installs_and_starts_as_its_user_on_a_read_only_root(image: ImageRoot) -> None:
    build, final = stages()
    replay_build(image, build, final)
    env = {**image.base_env(), **replay_final(image, final)}
    volume = image.host(final.all("VOLUME")[0].exec_form()[0])
    before = snapshot(image.root, [volume, image.host("/tmp")])
    # Nothing of the image is writable by its user, but the volume and /tmp.
    probe = subprocess.run(
        image.argv(["sh", "-c", f"touch {image.host('/opt/live-monitor')}/x {image.host('/')}/x"]),
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0

    (entrypoint,) = final.all("ENTRYPOINT")
    emulator_port, monitor_port = free_port(), free_port()
    emulator_command = [
        "127.0.0.1" if a == "0.0.0.0" else str(emulator_port) if a == "8765" else a
        for a in compose_service("emulator")["command"]  # type: ignore[union-attr]
    ]
    monitor = compose_service("monitor-eu")
    monitor_env = {
        key: str(value).replace("emulator:8765", f"127.0.0.1:{emulator_port}")
        for key, value in monitor["environment"].items()  # type: ignore[union-attr]
    }
    monitor_env["LIVE_MONITOR_LISTEN"] = f"127.0.0.1:{monitor_port}"
    cwd = image.host("/")
    # Logs go to files (in the test's /tmp, which the image may write), never to pipes that could fill up.
    emulator_log, daemon_log = image.host("/tmp/emulator.log"), image.host("/tmp/daemon.log")
    with emulator_log.open("wb") as log:
        emulator = subprocess.Popen(
            image.argv([*entrypoint.exec_form(), *emulator_command]), cwd=cwd, env=env, stdout=log, stderr=log
        )
    with daemon_log.open("wb") as log:
        daemon = subprocess.Popen(
            image.argv([*entrypoint.exec_form(), *monitor["command"]]),  # type: ignore[list-item]
            cwd=cwd,
            env={**env, **monitor_env},
            stdout=log,
            stderr=log,
        )
    try:
        (health,) = final.all("HEALTHCHECK")
        healthcheck = health.exec_form()  # it finds the port in LIVE_MONITOR_LISTEN, as in the container
        deadline = time.monotonic() + 60
        while subprocess.run(
            image.argv(healthcheck), env={**env, **monitor_env}, capture_output=True, check=False
        ).returncode:
            assert daemon.poll() is None, daemon_log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"the image's HEALTHCHECK never passed: {healthcheck}"
            time.sleep(1)
        # A successful turn proves the installed package whole: the emulator found its packaged scenario,
        # the probe its packaged prompt and default setup.
        deadline = time.monotonic() + 120
        records: list[dict[str, object]] = []
        while not any(record["outcome"] == "ok" for record in records):
            assert emulator.poll() is None, emulator_log.read_text(errors="replace")[-3000:]
            seen = {(record["outcome"], str(record["detail"])[:120]) for record in records}
            assert time.monotonic() < deadline, f"no successful probe within 120 s: {seen}"
            time.sleep(2)
            with urllib.request.urlopen(
                f"http://127.0.0.1:{monitor_port}/api/results", timeout=5
            ) as response:
                records = json.loads(response.read())
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=int(str(monitor["stop_grace_period"]).rstrip("s")))
        assert daemon.returncode == 0, daemon_log.read_text(errors="replace")[-3000:]
    finally:
        for process in (daemon, emulator):
            if process.poll() is None:
                process.kill()
                process.wait()
    store = Path(env["LIVE_MONITOR_STORE__PATH"])
    assert store.is_file()
    if os.geteuid() == 0:
        assert store.stat().st_uid == image.uid
    assert snapshot(image.root, [volume, image.host("/tmp")]) == before, "the image wrote outside its volume"
