"""probe(): every container customers send, and everything that is not audio."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from adapter.audio import AudioInfo, probe
from adapter.errors import BadAudio, NotAudio
from tests.audio import gen
from tests.audio.conftest import Make
from tests.audio.hostile import HOSTILE, NOT_AUDIO

# (file, container, codec, seconds (±0.1), extension)
SHARED = [
    ("en1.ogg", "ogg", "opus", 6.27, "ogg"),
    ("en2.ogg", "ogg", "opus", 5.36, "ogg"),
    ("en3.ogg", "ogg", "opus", 5.82, "ogg"),
    ("es1.ogg", "ogg", "opus", 11.45, "ogg"),
    ("en1.webm", "matroska,webm", "opus", 6.28, "webm"),
    ("en2.mp3", "mp3", "mp3", 5.43, "mp3"),
    ("en3.m4a", "mov,mp4,m4a,3gp,3g2,mj2", "aac", 5.86, "m4a"),
    ("en1.wav", "wav", "pcm_s16le", 6.27, "wav"),
]


@pytest.mark.parametrize(("name", "container", "codec", "seconds", "extension"), SHARED)
def test_probe_shared_fixtures(
    fixtures_dir: Path, name: str, container: str, codec: str, seconds: float, extension: str
) -> None:
    info = probe(fixtures_dir / name)

    assert info.container == container
    assert info.codec == codec
    assert info.duration == pytest.approx(seconds, abs=0.1)
    assert info.channels == 1
    assert info.sample_rate in {16000, 22050, 48000}
    assert info.size == (fixtures_dir / name).stat().st_size
    assert info.extension == extension
    assert info.bit_rate is None or 10_000 < info.bit_rate < 300_000


# kind -> (container, codec, extension); every generated file is 1 + 1 + 1 = 3 s long
GENERATED = {
    "ogg": ("ogg", "opus", "ogg"),
    "webm": ("matroska,webm", "opus", "webm"),
    "mp3": ("mp3", "mp3", "mp3"),
    "m4a": ("mov,mp4,m4a,3gp,3g2,mj2", "aac", "m4a"),
    "mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "aac", "m4a"),
    "wav": ("wav", "pcm_s16le", "wav"),
    "flac": ("flac", "flac", "flac"),
    "amr": ("amr", "amr_nb", None),
    "3gp": ("mov,mp4,m4a,3gp,3g2,mj2", "amr_nb", None),
    "3gp_aac": ("mov,mp4,m4a,3gp,3g2,mj2", "aac", None),
    "caf": ("caf", "pcm_s16le", None),
    "caf_alac": ("caf", "alac", None),
    "caf_ima4": ("caf", "adpcm_ima_qt", None),
}


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_probe_generated_containers(make: Make, kind: str) -> None:
    container, codec, extension = GENERATED[kind]
    path = make(f"note.{gen.KINDS[kind].extension}", gen.THREE_SECONDS, kind)

    info = probe(path)

    assert (info.container, info.codec, info.extension) == (container, codec, extension)
    # encoders add priming/padding of up to a few frames
    assert info.duration == pytest.approx(3.0, abs=0.08)
    assert info.sample_rate == gen.KINDS[kind].rate or codec == "opus"
    assert info.channels == 1
    assert not info.has_other_streams


@pytest.mark.parametrize("name", ["voice.ogg", "voice.oga", "voice.opus", "voice", "voice.bin"])
def test_voice_note_is_ogg_whatever_its_name(make: Make, tmp_path: Path, name: str) -> None:
    original = make("note.ogg", gen.THREE_SECONDS, "ogg")
    renamed = tmp_path / name
    shutil.copyfile(original, renamed)

    info = probe(renamed)

    assert (info.container, info.codec, info.extension) == ("ogg", "opus", "ogg")


@pytest.mark.parametrize(
    ("kind", "wrong_name", "extension"),
    [("mp3", "clip.m4a", "mp3"), ("m4a", "clip.mp3", "m4a"), ("amr", "clip.ogg", None)],
)
def test_wrongly_labelled_files_are_judged_by_content(
    make: Make, kind: str, wrong_name: str, extension: str | None
) -> None:
    path = make(wrong_name, gen.THREE_SECONDS, kind)

    assert probe(path).extension == extension


def test_stereo_and_video_are_reported(make: Make) -> None:
    stereo = probe(make("stereo.mp3", gen.THREE_SECONDS, "mp3", channels=2))
    video = probe(make("screen.mp4", gen.THREE_SECONDS, "mp4", video=True))

    assert stereo.channels == 2
    assert video.has_other_streams
    assert video.extension == "mp4"


def test_duration_is_measured_not_believed(tmp_path: Path) -> None:
    """A WAV header claiming 2 GB of samples over one second of data."""
    samples = (gen.tone(1.0, 8000) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 0x7FFFFFF0) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    data = b"data" + struct.pack("<I", 0x7FFFFFD0) + samples
    path = tmp_path / "liar.wav"
    path.write_bytes(header + fmt + data)

    info = probe(path)

    assert info.duration == pytest.approx(1.0, abs=0.01)


def test_truncated_voice_note_keeps_what_arrived(fixtures_dir: Path, tmp_path: Path) -> None:
    whole = (fixtures_dir / "en1.ogg").read_bytes()
    half = tmp_path / "half.ogg"
    half.write_bytes(whole[: len(whole) // 2])

    info = probe(half)

    assert 1.0 < info.duration < probe(fixtures_dir / "en1.ogg").duration


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_refused(fixtures_dir: Path, tmp_path: Path, case: str) -> None:
    path = tmp_path / "attachment.ogg"
    HOSTILE[case](fixtures_dir, path)

    with pytest.raises((BadAudio, NotAudio)) as caught:
        probe(path)

    # documents, images and streams with no audio at all are "not audio" (the row is skipped);
    # everything else that fails is bad audio (the row fails)
    if case in NOT_AUDIO:
        assert isinstance(caught.value, NotAudio)
        assert caught.value.reason == "not_audio"
    else:
        assert not isinstance(caught.value, NotAudio)
        assert caught.value.reason == "bad_audio"
    message = str(caught.value)
    assert message
    assert "\n" not in message
    for leak in (str(tmp_path), "http", "file:/"):
        assert leak not in message


def test_hostile_messages_say_what_is_wrong(fixtures_dir: Path, tmp_path: Path) -> None:
    def message(case: str) -> str:
        path = tmp_path / f"{case}.ogg"
        HOSTILE[case](fixtures_dir, path)
        with pytest.raises((BadAudio, NotAudio)) as caught:
            probe(path)
        return str(caught.value)

    assert message("empty") == "the file is empty"
    assert "no audio stream" in message("video without audio")
    assert message("pdf") == "not audio: the file is a PDF document"
    assert message("jpeg named ogg") == "not audio: the file is a JPEG image"
    assert "truncated" in message("truncated ogg")
    assert "implausible sample rate (1 Hz)" in message("wav at 1 Hz")


def test_missing_file_is_a_caller_bug(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nowhere.ogg")


def test_colon_in_the_name_is_not_a_protocol(make: Make, tmp_path: Path) -> None:
    original = make("note.mp3", gen.THREE_SECONDS, "mp3")
    odd = tmp_path / "http:evil.mp3"
    shutil.copyfile(original, odd)

    assert isinstance(probe(odd), AudioInfo)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        (b"PK\x03\x04" + b"\x00" * 64, "ZIP"),
        (b"  <!DOCTYPE html><html></html>", "HTML"),
    ],
)
def test_documents_and_images_are_not_audio(tmp_path: Path, head: bytes, kind: str) -> None:
    path = tmp_path / "voice.ogg"  # the name lies, as customers' files do
    path.write_bytes(head + b"x" * 2048)
    with pytest.raises(NotAudio, match=kind):
        probe(path)


def test_corrupt_audio_is_bad_audio_not_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "voice.ogg"
    path.write_bytes(b"OggS" + b"\x00" * 300)
    with pytest.raises(BadAudio) as info:
        probe(path)
    assert not isinstance(info.value, NotAudio)
