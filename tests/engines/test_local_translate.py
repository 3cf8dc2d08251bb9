"""LocalEngine.translate: Whisper's translate task on the bundled weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.engines import LocalEngine
from adapter.errors import BadAudio, EngineRejected, Reason
from tests.engines.conftest import CLIPS_BY_NAME, normalise
from tests.fixtures import AUDIO

pytestmark = pytest.mark.local_engine

#: English words of a translation of es1.ogg ("Hola, buenas tardes. Quiero saber si mi pedido
#: ya salió del almacén, porque necesito el paquete antes del viernes por la mañana."). The base
#: model mishears some of this synthetic voice ("…if my memory has saved the soul because I
#: need the package before the winter for the morning"), so any four will do.
EXPECTED = {
    "good", "afternoon", "want", "know", "order", "warehouse", "need", "package", "before",
    "friday", "morning",
}  # fmt: skip
#: the Spanish words of the same sentence that are not also English
SPANISH = {"hola", "buenas", "quiero", "saber", "pedido", "almacen", "paquete", "viernes"}


@pytest.fixture(scope="module")
def base(model_cache: Path) -> LocalEngine:
    return LocalEngine("base", model_dir=model_cache)


@pytest.mark.parametrize("decoding", ["sequential", "batched"])
def test_spanish_is_translated_to_english(model_cache: Path, decoding: str) -> None:
    engine = LocalEngine(
        "base", model_dir=model_cache, decoding="batched" if decoding == "batched" else "sequential"
    )
    transcript = engine.translate(CLIPS_BY_NAME["es1.ogg"].path)
    words = set(normalise(transcript.text).split())
    assert transcript.language == "en"
    assert len(words & EXPECTED) >= 4, transcript.text
    assert not words & SPANISH, transcript.text
    assert transcript.duration == pytest.approx(11.4, abs=0.5)
    assert transcript.segments
    assert transcript.text == " ".join(segment.text for segment in transcript.segments)
    assert all(0 <= s.start <= s.end <= transcript.duration + 1 for s in transcript.segments)


def test_english_only_model_refuses_to_translate(tmp_path: Path) -> None:
    engine = LocalEngine("tiny.en")
    with pytest.raises(EngineRejected) as refused:
        engine.translate(AUDIO / "es1.ogg")
    assert refused.value.reason is Reason.engine_rejected
    assert refused.value.detail == "unsupported"
    assert "tiny.en" in str(refused.value)
    # refused before the file is even read
    with pytest.raises(EngineRejected):
        engine.translate(tmp_path / "gone.ogg")


def test_bad_audio_to_translate(base: LocalEngine, tmp_path: Path) -> None:
    path = tmp_path / "text.ogg"
    path.write_bytes(b"not audio at all")
    with pytest.raises(BadAudio):
        base.translate(path)
    with pytest.raises(BadAudio):
        base.translate(tmp_path / "gone.ogg")
