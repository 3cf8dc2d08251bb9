"""Fixtures of the engine tests: the OpenAI stand-in and its key, the audio fixtures, weights."""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapter.engines import weights
from tests.fixtures import AUDIO
from tests.standins.openai_server import api_key, openai_server  # noqa: F401 - fixtures


@dataclass(frozen=True)
class Clip:
    path: Path
    language: str
    text: str


def _clips() -> list[Clip]:
    with open(AUDIO / "texts.tsv", encoding="utf-8", newline="") as table:
        rows = csv.DictReader(table, delimiter="\t")
        return [Clip(AUDIO / row["file"], row["language"], row["text"]) for row in rows]


CLIPS = _clips()
CLIPS_BY_NAME = {clip.path.name: clip for clip in CLIPS}


def normalise(text: str) -> str:
    """Lower case, no accents, no punctuation, single spaces: what WER is computed on."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^\w\s]", " ", plain).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


@pytest.fixture(scope="session")
def model_cache(model_dir: Path) -> Path:
    """The session's model cache (``tests/conftest.py``) with the real base model assembled in
    it: once per test session, shared with every other test and process that needs it."""
    weights.model_dir("base", model_dir)
    return model_dir
