"""prepare(): copy, remux, transcode, cut silences, split; every output decoded back."""

from __future__ import annotations

import importlib
import itertools
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from adapter.audio import PreparedAudio, prepare, probe
from adapter.engines.base import EngineLimits
from adapter.errors import BadAudio, NotAudio
from tests.audio import gen
from tests.audio.conftest import Make
from tests.audio.hostile import HOSTILE

#: the module (``adapter.audio.prepare`` is the function, the package re-exports it)
prepare_module = importlib.import_module("adapter.audio.prepare")


def _assert_acceptable(prepared: PreparedAudio, limits: EngineLimits, workdir: Path) -> None:
    """Every chunk is in workdir, named as the engine wants, within limits, and decodes."""
    assert prepared.chunks
    for index, chunk in enumerate(prepared.chunks):
        assert chunk.index == index
        assert chunk.path.is_relative_to(workdir)
        assert chunk.path.suffix[1:] in limits.accepted_extensions
        size = chunk.path.stat().st_size
        if limits.max_bytes is not None:
            assert size <= limits.max_bytes
        info = probe(chunk.path)
        if limits.max_seconds is not None:
            assert info.duration <= limits.max_seconds
        assert info.duration == pytest.approx(chunk.duration, abs=0.05)
        assert chunk.billed_seconds == pytest.approx(chunk.duration)
        assert chunk.offset == pytest.approx(chunk.timemap.to_original(0.0))
    assert prepared.upload_bytes == sum(c.path.stat().st_size for c in prepared.chunks)
    assert prepared.billed_seconds == pytest.approx(sum(c.billed_seconds for c in prepared.chunks))


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


# --- no re-encoding -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["voice.oga", "voice.opus", "voice", "voice.ogg"])
def test_voice_note_is_copied_as_ogg(
    fixtures_dir: Path, tmp_path: Path, workdir: Path, openai_limits: EngineLimits, name: str
) -> None:
    src = tmp_path / name
    shutil.copyfile(fixtures_dir / "en1.ogg", src)

    prepared = prepare(src, workdir, openai_limits, remove_silence=False)

    (chunk,) = prepared.chunks
    assert chunk.path.suffix == ".ogg"
    assert chunk.path.read_bytes() == src.read_bytes()
    assert probe(chunk.path).codec == "opus"
    assert prepared.billed_seconds == pytest.approx(prepared.audio_seconds)
    _assert_acceptable(prepared, openai_limits, workdir)


@pytest.mark.parametrize("name", ["en1.webm", "en2.mp3", "en3.m4a", "en1.wav", "es1.ogg"])
def test_accepted_fixtures_go_as_they_are(
    fixtures_dir: Path, workdir: Path, openai_limits: EngineLimits, name: str
) -> None:
    src = fixtures_dir / name

    prepared = prepare(src, workdir, openai_limits)

    (chunk,) = prepared.chunks
    assert chunk.path.read_bytes() == src.read_bytes()
    assert probe(chunk.path).codec == probe(src).codec
    _assert_acceptable(prepared, openai_limits, workdir)


def test_wrongly_labelled_mp3_gets_its_real_extension(
    make: Make, workdir: Path, openai_limits: EngineLimits
) -> None:
    src = make("voice.m4a", gen.THREE_SECONDS, "mp3")

    (chunk,) = prepare(src, workdir, openai_limits, remove_silence=False).chunks

    assert chunk.path.suffix == ".mp3"
    assert chunk.path.read_bytes() == src.read_bytes()


def test_video_is_dropped_by_remuxing_without_reencoding(
    make: Make, workdir: Path, openai_limits: EngineLimits
) -> None:
    src = make("screen.mp4", gen.THREE_SECONDS, "mp4", video=True)

    prepared = prepare(src, workdir, openai_limits, remove_silence=False)

    (chunk,) = prepared.chunks
    with av.open(str(chunk.path)) as container:
        assert [s.type for s in container.streams] == ["audio"]
    assert probe(chunk.path).codec == "aac"
    assert _packets(chunk.path) == _packets(src)
    assert prepared.upload_bytes < src.stat().st_size
    _assert_acceptable(prepared, openai_limits, workdir)


def test_unlimited_engine_gets_the_source_untouched(make: Make, workdir: Path) -> None:
    src = make("sms.amr", gen.THREE_SECONDS, "amr")

    prepared = prepare(src, workdir, EngineLimits(), remove_silence=False)

    (chunk,) = prepared.chunks
    assert chunk.path == src
    assert list(workdir.iterdir()) == []


# --- transcoding --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["amr", "3gp", "3gp_aac", "caf", "caf_alac", "caf_ima4"])
def test_unaccepted_containers_become_16k_mono_opus(
    make: Make, workdir: Path, openai_limits: EngineLimits, kind: str
) -> None:
    src = make(f"note.{gen.KINDS[kind].extension}", gen.THREE_SECONDS, kind)

    prepared = prepare(src, workdir, openai_limits, remove_silence=False)

    (chunk,) = prepared.chunks
    info = probe(chunk.path)
    assert chunk.path.suffix == ".ogg"
    assert (info.container, info.codec, info.channels) == ("ogg", "opus", 1)
    # as long as the source decodes to (FFmpeg's ALAC-in-CAF loses part of its last frame)
    assert info.duration == pytest.approx(gen.decode(src).size / 16000, abs=0.01)
    # the tones are where they were: 440 Hz for a second, silence, 660 Hz
    rms = gen.levels(chunk.path, window=0.25)
    assert rms[:3].min() > 0.05
    assert rms[5:7].max() < 0.01
    assert rms[9:11].min() > 0.05
    _assert_acceptable(prepared, openai_limits, workdir)


def test_over_the_byte_limit_is_transcoded(make: Make, workdir: Path) -> None:
    src = make("call.wav", [(10.0, 300.0)], "wav")  # 160 kB of PCM
    limits = EngineLimits(max_bytes=100_000, max_seconds=None)

    prepared = prepare(src, workdir, limits, remove_silence=False)

    (chunk,) = prepared.chunks
    assert chunk.path.suffix == ".ogg"
    assert prepared.upload_bytes < 100_000
    _assert_acceptable(prepared, limits, workdir)


def test_large_accepted_file_is_shrunk_when_opus_is_much_smaller(
    make: Make, workdir: Path, openai_limits: EngineLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "large" scaled down tenfold: 54 s of 8 kHz PCM, 864 kB, accepted as it is, Opus is 160 kB
    monkeypatch.setattr(prepare_module, "SHRINK_MIN_BYTES", prepare_module.SHRINK_MIN_BYTES // 10)
    src = make("call.wav", gen.bursts(54.0, burst=3.0, gap=0.5), "wav")
    assert prepare_module.SHRINK_MIN_BYTES < src.stat().st_size < openai_limits.max_bytes

    prepared = prepare(src, workdir, openai_limits, remove_silence=False)

    (chunk,) = prepared.chunks
    assert chunk.path.suffix == ".ogg"
    assert prepared.upload_bytes * 4 < src.stat().st_size


# --- silence removal ----------------------------------------------------------------------

#: tones at known times (start, end): 3-5 s, 9-10 s, 12.5-15.5 s, in 18.5 s of audio
PAUSES = [(3.0, 0.0), (2.0, 500.0), (4.0, 0.0), (1.0, 700.0), (2.5, 0.0), (3.0, 600.0), (3.0, 0.0)]
TONES = [(3.0, 5.0), (9.0, 10.0), (12.5, 15.5)]


def _onsets(path: Path, window: float = 0.01) -> list[tuple[float, float]]:
    """(start, end) seconds of the sounding stretches of a decoded file."""
    loud = gen.levels(path, window=window) > 0.02
    edges = np.flatnonzero(np.diff(np.concatenate(([0], loud.astype(int), [0]))))
    return [(a * window, b * window) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def test_silences_are_cut_and_times_map_back(
    make: Make, workdir: Path, openai_limits: EngineLimits
) -> None:
    src = make("pauses.wav", PAUSES, "wav")

    prepared = prepare(src, workdir, openai_limits)

    (chunk,) = prepared.chunks
    assert prepared.audio_seconds == pytest.approx(18.5, abs=0.01)
    # 2 + 1 + 3 s of tone, 0.3 s of padding at each end, 0.6 s of each inner pause
    # (each edge may round out to the 30 ms frame grid)
    assert prepared.billed_seconds == pytest.approx(6.0 + 0.6 + 1.2, abs=0.2)
    heard = _onsets(chunk.path)
    assert len(heard) == len(TONES)
    for (start, end), (true_start, true_end) in zip(heard, TONES, strict=True):
        assert chunk.timemap.to_original(start) == pytest.approx(true_start, abs=0.04)
        assert chunk.timemap.to_original(end) == pytest.approx(true_end, abs=0.04)
    _assert_acceptable(prepared, openai_limits, workdir)


def test_speech_with_pauses_bills_less(
    make: Make, workdir: Path, openai_limits: EngineLimits
) -> None:
    rate = gen.KINDS["mp3"].rate
    pieces: list[gen.Samples] = []
    for i in range(6):
        pieces += [gen.speech_like(2.5, rate, seed=i), gen.silence(2.0 + i % 3, rate)]
    src = make("voice.mp3", np.concatenate(pieces), "mp3")

    prepared = prepare(src, workdir, openai_limits)

    assert prepared.billed_seconds < 0.75 * prepared.audio_seconds
    assert prepared.billed_seconds > 6 * 2.5
    _assert_acceptable(prepared, openai_limits, workdir)


def test_short_pauses_leave_an_accepted_file_alone(
    make: Make, workdir: Path, openai_limits: EngineLimits
) -> None:
    src = make("voice.ogg", gen.bursts(8.0, burst=1.0, gap=0.6), "ogg")

    (chunk,) = prepare(src, workdir, openai_limits).chunks

    assert chunk.path.read_bytes() == src.read_bytes()


def test_all_silence_sends_nothing(make: Make, workdir: Path, openai_limits: EngineLimits) -> None:
    src = make("pocket.ogg", [(6.0, 0.0)], "ogg")

    prepared = prepare(src, workdir, openai_limits)

    assert prepared.chunks == ()
    assert prepared.billed_seconds == 0.0
    assert prepared.upload_bytes == 0


def test_unlimited_engine_gets_a_cut_file_when_silence_is_removed(
    make: Make, workdir: Path
) -> None:
    src = make("pauses.amr", PAUSES, "amr")

    prepared = prepare(src, workdir, EngineLimits())

    (chunk,) = prepared.chunks
    assert chunk.path.suffix == ".ogg"
    assert prepared.billed_seconds < 10


# --- splitting ----------------------------------------------------------------------------


def _gaps(layout: list[tuple[float, float]]) -> list[tuple[float, float]]:
    gaps, elapsed = [], 0.0
    for seconds, freq in layout:
        if freq == 0:
            gaps.append((elapsed, elapsed + seconds))
        elapsed += seconds
    return gaps


def _check_split(
    prepared: PreparedAudio,
    layout: list[tuple[float, float]],
    limits: EngineLimits,
    workdir: Path,
    *,
    target: float,
    overlap: float,
    cut_silence: bool,
) -> None:
    _assert_acceptable(prepared, limits, workdir)
    chunks = prepared.chunks
    assert len(chunks) > 1
    gaps = _gaps(layout)
    for before, after in itertools.pairwise(chunks):
        # where the new part of `after` begins: the cut, inside a silence of the source
        cut = after.timemap.to_original(after.lead_overlap)
        assert any(a <= cut <= b for a, b in gaps), cut
        assert after.lead_overlap == pytest.approx(overlap, abs=0.03)
        assert after.offset < cut
        if not cut_silence:
            assert before.timemap.to_original(before.duration) == pytest.approx(cut, abs=0.001)
            assert cut - after.offset == pytest.approx(overlap, abs=0.03)
    for chunk in chunks:
        assert chunk.duration <= target + overlap + 0.1 * target
    # the last chunk ends where the source does, or 0.3 s after its last sound
    last = chunks[-1]
    end = prepared.audio_seconds
    if cut_silence and layout[-1][1] == 0:
        end = gaps[-1][0] + 0.3
    assert last.timemap.to_original(last.duration) == pytest.approx(end, abs=0.05)


def test_long_recording_is_split_at_silences(make: Make, workdir: Path) -> None:
    layout = gen.bursts(150.0, burst=4.0, gap=1.5, lead=0.5)
    src = make("call.flac", layout, "flac")
    limits = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=60.0)

    prepared = prepare(
        src, workdir, limits, remove_silence=False, target_chunk_seconds=45, overlap_seconds=2
    )

    _check_split(prepared, layout, limits, workdir, target=45, overlap=2, cut_silence=False)
    assert prepared.billed_seconds == pytest.approx(150 + 2 * (len(prepared.chunks) - 1), abs=0.2)


def test_byte_limit_alone_splits(make: Make, workdir: Path) -> None:
    layout = gen.bursts(120.0, burst=4.0, gap=1.5, lead=0.5)
    src = make("call.wav", layout, "wav")
    limits = EngineLimits(max_bytes=150_000, max_seconds=None)  # about 50 s of Opus

    prepared = prepare(src, workdir, limits, remove_silence=False, overlap_seconds=1)

    _check_split(prepared, layout, limits, workdir, target=50, overlap=1, cut_silence=False)


#: a ten-minute call: bursts of 4 s every 5.5 s; split for OpenAI it makes three or four chunks
CALL = gen.bursts(600.0, burst=4.0, gap=1.5, lead=0.5)


@pytest.fixture(scope="module")
def call_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The call as FLAC, written once for the tests that only read it."""
    path = tmp_path_factory.mktemp("call") / "call.flac"
    return gen.write(path, gen.pattern(CALL, gen.KINDS["flac"].rate), "flac")


@pytest.mark.slow
@pytest.mark.parametrize("cut_silence", [False, True])
def test_long_call_is_split_for_openai(call_flac: Path, workdir: Path, cut_silence: bool) -> None:
    limits = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=300.0)

    prepared = prepare(
        call_flac, workdir, limits, remove_silence=cut_silence, target_chunk_seconds=240
    )

    _check_split(prepared, CALL, limits, workdir, target=240, overlap=2, cut_silence=cut_silence)
    if cut_silence:
        assert prepared.billed_seconds < 0.9 * prepared.audio_seconds
        # every burst of the source is in exactly the chunks that claim it
        chunk = prepared.chunks[1]
        heard = _onsets(chunk.path, window=0.02)
        starts = {round(0.5 + 5.5 * k, 2) for k in range(110)}
        for start, _ in heard[1:]:
            original = chunk.timemap.to_original(start)
            assert min(abs(original - s) for s in starts) < 0.05


# --- bad input and arguments --------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["empty", "random bytes", "pdf", "jpeg named ogg", "text", "wav at 1 Hz"]
)
def test_prepare_refuses_what_is_not_audio(
    fixtures_dir: Path, tmp_path: Path, workdir: Path, openai_limits: EngineLimits, case: str
) -> None:
    src = tmp_path / "attachment.ogg"
    HOSTILE[case](fixtures_dir, src)

    with pytest.raises((BadAudio, NotAudio)):
        prepare(src, workdir, openai_limits)


def test_nonsense_arguments_are_refused(
    fixtures_dir: Path, workdir: Path, openai_limits: EngineLimits
) -> None:
    src = fixtures_dir / "en1.ogg"
    with pytest.raises(ValueError, match="target_chunk_seconds"):
        prepare(src, workdir, openai_limits, target_chunk_seconds=0)
    with pytest.raises(ValueError, match="less than a second"):
        prepare(src, workdir, EngineLimits(max_bytes=1000), remove_silence=False)
