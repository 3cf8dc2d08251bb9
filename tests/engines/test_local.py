"""LocalEngine: faster-whisper with the bundled weights, on the shared audio fixtures."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from adapter.engines import LocalEngine
from adapter.errors import BadAudio, ConfigError
from tests.engines.conftest import AUDIO, CLIPS, CLIPS_BY_NAME, Clip, wer

pytestmark = pytest.mark.local_engine

ENGLISH = [clip for clip in CLIPS if clip.language == "en"]


@pytest.fixture(scope="module")
def base(model_cache: Path) -> LocalEngine:
    return LocalEngine("base", model_dir=model_cache)


@pytest.fixture(scope="module")
def tiny_en() -> LocalEngine:
    return LocalEngine("tiny.en")


@pytest.mark.parametrize("clip", ENGLISH, ids=lambda clip: clip.path.name)
def test_english_clips(base: LocalEngine, clip: Clip) -> None:
    transcript = base.transcribe(clip.path)
    assert wer(clip.text, transcript.text) <= 0.15, transcript.text
    assert transcript.language == "en"
    assert 4.0 < transcript.duration < 8.0
    assert transcript.segments
    assert transcript.text == " ".join(segment.text for segment in transcript.segments)
    assert all(0 <= s.start <= s.end <= transcript.duration + 1 for s in transcript.segments)


def test_spanish_clip(base: LocalEngine) -> None:
    clip = CLIPS_BY_NAME["es1.ogg"]
    transcript = base.transcribe(clip.path)
    assert transcript.language == "es"
    assert wer(clip.text, transcript.text) <= 0.35, transcript.text
    assert transcript.duration == pytest.approx(11.4, abs=0.5)


def test_detect_language(base: LocalEngine) -> None:
    assert base.detect_language(AUDIO / "es1.ogg") == "es"
    assert base.detect_language(AUDIO / "en2.mp3") == "en"


def test_language_hint_is_honoured(base: LocalEngine) -> None:
    clip = CLIPS_BY_NAME["en1.ogg"]
    transcript = base.transcribe(clip.path, language="en")
    assert transcript.language == "en"
    assert wer(clip.text, transcript.text) <= 0.15
    # A (wrong) hint is obeyed rather than detected over.
    assert base.transcribe(clip.path, language="de").language == "de"


def test_a_timeout_is_accepted_but_cannot_interrupt(tiny_en: LocalEngine) -> None:
    clip = CLIPS_BY_NAME["en2.ogg"]
    transcript = tiny_en.transcribe(clip.path, timeout=0.001)  # far shorter than the work
    assert wer(clip.text, transcript.text) <= 0.15, transcript.text


def test_unknown_hint_is_a_config_error(base: LocalEngine) -> None:
    with pytest.raises(ConfigError):
        base.transcribe(AUDIO / "en1.ogg", language="klingon")


def test_tiny_en(tiny_en: LocalEngine) -> None:
    for name in ("en2.ogg", "en3.ogg"):
        clip = CLIPS_BY_NAME[name]
        transcript = tiny_en.transcribe(clip.path)
        assert transcript.language == "en"
        assert wer(clip.text, transcript.text) <= 0.15, transcript.text
    assert tiny_en.detect_language(AUDIO / "es1.ogg") == "en"  # English only
    assert tiny_en.transcribe(AUDIO / "en2.ogg", language="es").language == "en"


def test_model_is_loaded_once(model_cache: Path, base: LocalEngine) -> None:
    other = LocalEngine("base", model_dir=model_cache)
    seen: list[object] = []
    threads = [
        threading.Thread(target=lambda: seen.append(other.whisper_model())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(model is base.whisper_model() for model in seen)
    assert len(seen) == 4


@pytest.mark.slow
def test_concurrent_transcriptions(base: LocalEngine) -> None:
    clips = [CLIPS_BY_NAME[name] for name in ("en1.ogg", "en2.mp3", "en3.m4a", "en1.webm")]
    results: dict[str, float] = {}
    failures: list[BaseException] = []

    def run(clip: Clip) -> None:
        try:
            results[clip.path.name] = wer(clip.text, base.transcribe(clip.path).text)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(clip,)) for clip in clips]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(value <= 0.15 for value in results.values()), results
    assert len(results) == 4


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "empty.ogg"), (b"not audio at all", "text.ogg"), (b"\x00" * 4096, "zeros.mp3")],
)
def test_bad_audio(base: LocalEngine, tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadAudio):
        base.transcribe(path)
    with pytest.raises(BadAudio):
        base.detect_language(path)


def test_missing_file_is_bad_audio(base: LocalEngine, tmp_path: Path) -> None:
    with pytest.raises(BadAudio):
        base.transcribe(tmp_path / "gone.ogg")


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        LocalEngine("large-v3")


def test_without_faster_whisper_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # makes the import fail
    engine = LocalEngine("tiny.en", compute_type="float32")  # a model not loaded yet
    with pytest.raises(ConfigError, match=r"helpdesk-transcriber\[local\]"):
        engine.transcribe(AUDIO / "en1.ogg")


def test_repr_and_limits(base: LocalEngine) -> None:
    assert repr(base) == "LocalEngine(model='base', compute_type='int8')"
    assert base.name == "local"
    assert base.limits.max_bytes is None
    assert {"ogg", "opus", "oga", "amr", "m4a", "webm"} <= base.limits.accepted_extensions


@pytest.mark.parametrize("name", ["voice.opus", "voice.oga"])
def test_extensions_openai_refuses_are_fine_here(
    tiny_en: LocalEngine, tmp_path: Path, name: str
) -> None:
    clip = CLIPS_BY_NAME["en2.ogg"]
    path = tmp_path / name
    path.write_bytes(clip.path.read_bytes())
    assert path.suffix.lstrip(".") in tiny_en.limits.accepted_extensions
    assert wer(clip.text, tiny_en.transcribe(path).text) <= 0.15
