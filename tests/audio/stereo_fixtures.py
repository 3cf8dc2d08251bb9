"""Two-channel recordings made from the shared speech samples, for tests of stereo calls.

Import as ``tests.audio.stereo_fixtures`` (the pipeline's end-to-end test uses it too). Every
file is real speech (``tests/fixtures/audio``, texts in ``texts.tsv``) written with PyAV:

    call_recording(tmp_path, kind="ogg", bleed=0.05, layout=CALL) -> CallRecording
        a call recorded one speaker per channel: speaker 0 on the first (left) channel says
        en1 (0.5 s in), speaker 1 on the second says en2 (7.5 s), then speaker 0 says en3
        (13.5 s); ``DOUBLE_TALK`` has them interrupt each other. ``bleed`` of each channel
        leaks into the other (a headset's crosstalk), with noise 60 dB down on both.
        ``.path`` is the file, ``.turns`` the utterances in order (speaker, start and end of
        the sound in seconds of the file, reference text), ``.spoken(speaker)`` their times.
    same_on_both(tmp_path, kind)    one voice note copied to both channels ("fake stereo")
    one_channel_silent(tmp_path, kind, channel)   speech on one channel, digital silence on
                                                  the other
    room(tmp_path, kind, crosstalk)   two speakers in one room on two microphones: each channel
                                      holds both voices, the far one ``crosstalk`` as loud
    three_channels(tmp_path)        the call on left and right, both speakers in the centre
    mono(tmp_path, kind)            the call's speech mixed down to one channel

``kind`` is ``"ogg"`` (Opus at 48 kHz, what a recorder or WhatsApp makes) or ``"wav"`` (16-bit
PCM at 16 kHz).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import cast

import av
import numpy as np

from tests.audio import gen
from tests.fixtures import AUDIO

Samples = gen.Samples

#: how each kind of stereo file is written: muxer, encoder, sample rate, extension
KINDS: dict[str, gen.Kind] = {
    "ogg": gen.Kind("ogg", "libopus", 48000, "ogg", 64000),
    "wav": gen.Kind("wav", "pcm_s16le", 16000, "wav"),
}

#: channel layouts by number of channels
_LAYOUTS = {2: "stereo", 3: "3.0"}
#: who says what when: (start in seconds, speaker, shared sample)
Layout = tuple[tuple[float, int, str], ...]
#: the utterances of :func:`call_recording`: each speaker waits for the other to finish
CALL: Layout = ((0.5, 0, "en1.ogg"), (7.5, 1, "en2.ogg"), (13.5, 0, "en3.ogg"))
#: a heated call: the second speaker cuts in 2.8 s before the first ends and is cut off 1.9 s
#: before finishing in turn (4.6 s of both talking at once)
DOUBLE_TALK: Layout = ((0.5, 0, "en1.ogg"), (4.0, 1, "en2.ogg"), (7.5, 0, "en3.ogg"))
#: silence after the last utterance
TAIL_SECONDS = 0.7
#: standard deviation of the noise on each channel of a call (about -60 dBFS)
NOISE = 0.001


@dataclass(frozen=True)
class ExpectedTurn:
    """One utterance of a generated call: who, when (seconds of the file, from the first sound
    to the last), and what (the sample's reference text)."""

    speaker: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class CallRecording:
    """A generated call recording and the turns it holds, in order."""

    path: Path
    turns: tuple[ExpectedTurn, ...]
    duration: float

    def spoken(self, speaker: int) -> list[tuple[float, float]]:
        """``(start, end)`` of what ``speaker`` says."""
        return [(t.start, t.end) for t in self.turns if t.speaker == speaker]


@cache
def texts() -> dict[str, str]:
    """Reference text of every shared sample (``texts.tsv``)."""
    with (AUDIO / "texts.tsv").open(encoding="utf-8", newline="") as handle:
        return {row["file"]: row["text"] for row in csv.DictReader(handle, delimiter="\t")}


def speech(name: str, rate: int) -> Samples:
    """A shared sample decoded to mono float32 at ``rate``."""
    return gen.decode(AUDIO / name, rate)


def voiced(samples: Samples, rate: int) -> tuple[float, float]:
    """Seconds from the start of ``samples`` to its first and its last sound: 10 ms windows
    above 0.01 RMS (-40 dBFS; the shared samples lead in and trail off quietly)."""
    size = rate // 100
    windows = samples[: samples.size // size * size].astype(np.float64).reshape(-1, size)
    loud = np.flatnonzero(np.sqrt(np.mean(windows * windows, axis=1)) > 0.01)
    return loud[0] / 100, (loud[-1] + 1) / 100


def call_recording(
    tmp_path: Path,
    *,
    kind: str = "ogg",
    bleed: float = 0.05,
    layout: Layout = CALL,
    name: str = "call",
) -> CallRecording:
    """A call with one speaker per channel (see the module docstring); ``layout`` says who
    says which sample when (:data:`DOUBLE_TALK` has them talk at once)."""
    rate = KINDS[kind].rate
    planes = _call_planes(rate, layout)
    heard = planes + bleed * planes[::-1]
    heard += np.random.default_rng(7).standard_normal(planes.shape).astype(np.float32) * NOISE
    path = write_planes(tmp_path / f"{name}.{KINDS[kind].extension}", heard, kind)
    turns = tuple(
        ExpectedTurn(speaker, start + first, start + last, texts()[sample])
        for start, speaker, sample in layout
        for first, last in [voiced(speech(sample, rate), rate)]
    )
    return CallRecording(path, turns, planes.shape[1] / rate)


def same_on_both(tmp_path: Path, kind: str = "ogg", sample: str = "es1.ogg") -> Path:
    """One voice note on both channels, sample for sample."""
    voice = speech(sample, KINDS[kind].rate)
    return write_planes(tmp_path / f"same.{KINDS[kind].extension}", np.vstack([voice, voice]), kind)


def one_channel_silent(
    tmp_path: Path, kind: str = "ogg", channel: int = 1, sample: str = "es1.ogg"
) -> Path:
    """One voice note on one channel; the other (``channel``) digital silence."""
    voice = speech(sample, KINDS[kind].rate)
    planes = np.zeros((2, voice.size), dtype=np.float32)
    planes[1 - channel] = voice
    name = f"silent-{channel}.{KINDS[kind].extension}"
    return write_planes(tmp_path / name, planes, kind)


def room(tmp_path: Path, kind: str = "ogg", crosstalk: float = 0.5) -> Path:
    """The call's speech as two microphones in one room would hear it: each channel holds both
    speakers, the one farther away ``crosstalk`` as loud and a few milliseconds later."""
    rate = KINDS[kind].rate
    planes = _call_planes(rate)
    delay = round(0.004 * rate)  # about 1.4 m more of air
    far = np.zeros_like(planes)
    far[:, delay:] = planes[::-1, :-delay]
    mixed = planes + crosstalk * far
    return write_planes(tmp_path / f"room.{KINDS[kind].extension}", mixed, kind)


def three_channels(tmp_path: Path) -> Path:
    """The clean call on the left and right channels of a WAV, with a centre channel holding
    both speakers at half their level (a conference recorder's mix)."""
    spec = KINDS["wav"]
    planes = _call_planes(spec.rate)
    centre = 0.5 * planes.sum(axis=0, keepdims=True)
    return write_planes(tmp_path / "three.wav", np.vstack([planes, centre]), "wav")


def mono(tmp_path: Path, kind: str = "ogg") -> Path:
    """The call's two speakers mixed into one channel."""
    spec = KINDS[kind]
    mixed = _call_planes(spec.rate).sum(axis=0)
    return gen.write(tmp_path / f"mono.{spec.extension}", mixed, spec)


def _call_planes(rate: int, layout: Layout = CALL) -> Samples:
    """The clean speech of ``layout``, one speaker per row, no bleed and no noise."""
    pieces = [(start, speaker, speech(sample, rate)) for start, speaker, sample in layout]
    duration = max(start + len(s) / rate for start, _, s in pieces) + TAIL_SECONDS
    planes = np.zeros((2, round(duration * rate)), dtype=np.float32)
    for start, speaker, samples in pieces:
        at = round(start * rate)
        planes[speaker, at : at + samples.size] = samples
    return planes


def write_planes(path: Path, planes: Samples, kind: str) -> Path:
    """Encode ``planes`` (one row of float32 at the kind's rate per channel: two, or three for
    a front-centre channel too) as a file of that many channels."""
    spec = KINDS[kind]
    layout = _LAYOUTS[planes.shape[0]]
    data = np.clip(planes, -1.0, 1.0).astype(np.float32)
    with av.open(str(path), "w", format=spec.format) as out:
        stream = cast(av.AudioStream, out.add_stream(spec.codec, rate=spec.rate))
        stream.layout = layout
        if spec.bit_rate:
            stream.codec_context.bit_rate = spec.bit_rate
        for position in range(0, data.shape[1], gen.BLOCK):
            block = np.ascontiguousarray(data[:, position : position + gen.BLOCK])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = spec.rate
            frame.pts = position
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
