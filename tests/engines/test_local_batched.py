"""LocalEngine's two decoding paths (sequential, batched) and the rule that picks one."""

from __future__ import annotations

import logging
import threading
import wave
from pathlib import Path

import pytest

from adapter.engines import LocalEngine, local
from adapter.errors import ConfigError
from tests.engines.conftest import CLIPS_BY_NAME, Clip, wer

pytestmark = pytest.mark.local_engine


@pytest.mark.parametrize("decoding", ["sequential", "batched"])
def test_both_paths_give_the_reference_text(model_cache: Path, decoding: str) -> None:
    engine = LocalEngine(
        "base", model_dir=model_cache, decoding="batched" if decoding == "batched" else "sequential"
    )
    clip = CLIPS_BY_NAME["en3.ogg"]
    transcript = engine.transcribe(clip.path)
    assert wer(clip.text, transcript.text) <= 0.15, transcript.text
    assert transcript.language == "en"
    assert transcript.duration == pytest.approx(5.8, abs=0.3)
    assert transcript.segments
    assert transcript.text == " ".join(segment.text for segment in transcript.segments)
    assert all(0 <= s.start <= s.end <= transcript.duration + 1 for s in transcript.segments)


def test_batched_tiny_en_and_a_batch_of_one() -> None:
    clip = CLIPS_BY_NAME["en2.ogg"]
    transcript = LocalEngine("tiny.en", decoding="batched", batch_size=1).transcribe(clip.path)
    assert wer(clip.text, transcript.text) <= 0.15, transcript.text
    assert transcript.language == "en"


def test_batched_calls_in_threads_at_once() -> None:
    """Worker threads share the model and the VAD session; each call has its own pipeline."""
    engine = LocalEngine("tiny.en", decoding="batched")
    clips = [CLIPS_BY_NAME[name] for name in ("en2.ogg", "en3.ogg")]
    results: dict[str, float] = {}
    failures: list[BaseException] = []

    def run(clip: Clip) -> None:
        try:
            results[clip.path.name] = wer(clip.text, engine.transcribe(clip.path).text)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(clip,)) for clip in clips]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results.keys() == {"en2.ogg", "en3.ogg"}
    assert all(value <= 0.15 for value in results.values()), results


def test_batched_silence_is_no_text(tmp_path: Path) -> None:
    """The batched path's voice activity detection finds no speech: nothing is decoded."""
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x00\x00" * 16_000 * 3)
    transcript = LocalEngine("tiny.en", decoding="batched").transcribe(path)
    assert transcript.text == ""
    assert transcript.segments == ()
    assert transcript.duration == pytest.approx(3.0)


def test_the_rule() -> None:
    """``auto``: sequential below ``BATCHED_FROM_SECONDS``, batched from it on; a forced path
    is taken at every length."""
    auto = LocalEngine("tiny.en")
    threshold = local.BATCHED_FROM_SECONDS
    assert auto.decoding == "auto"
    assert auto.decoding_for(5.0) == "sequential"
    assert auto.decoding_for(threshold - 0.01) == "sequential"
    assert auto.decoding_for(threshold) == "batched"
    assert auto.decoding_for(300.0) == "batched"  # the longest chunk the pipeline sends
    for forced in ("sequential", "batched"):
        engine = LocalEngine("tiny.en", decoding=forced)
        assert {engine.decoding_for(s) for s in (1.0, threshold, 1800.0)} == {forced}


def test_calls_take_the_path_of_the_rule(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A call decides on the decoded audio's length; with the threshold moved below a 5.4 s
    clip, ``auto`` decodes it batched, and above it, sequentially."""
    engine = LocalEngine("tiny.en")
    clip = CLIPS_BY_NAME["en2.ogg"]
    caplog.set_level(logging.DEBUG, logger=local.__name__)
    for threshold, expected in ((5.0, "batched"), (6.0, "sequential")):
        monkeypatch.setattr(local, "BATCHED_FROM_SECONDS", threshold)
        caplog.clear()
        transcript = engine.transcribe(clip.path)
        assert wer(clip.text, transcript.text) <= 0.15, transcript.text
        taken = [r.getMessage() for r in caplog.records if r.name == local.__name__]
        assert taken == [f"transcribe en2.ogg: {expected}, 5.4 s"]


@pytest.mark.parametrize(
    ("options", "match"),
    [({"decoding": "parallel"}, "decoding"), ({"batch_size": 0}, "batch_size")],
)
def test_bad_options_are_config_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LocalEngine("tiny.en", **options)  # type: ignore[arg-type]
