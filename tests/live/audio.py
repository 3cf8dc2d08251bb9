"""The shared speech samples as a Realtime client sends them, and how a transcript is scored."""

from __future__ import annotations

import re
from functools import cache

import av
import jiwer
import numpy as np

from tests.fixtures import AUDIO as FIXTURES

TEXTS = {
    line.split("\t")[0]: line.split("\t")[2]
    for line in (FIXTURES / "texts.tsv").read_text().splitlines()[1:]
}


@cache
def pcm24(name: str) -> bytes:
    """``name`` as pcm16: s16le mono 24 kHz."""
    with av.open(str(FIXTURES / name)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=24000)
        pieces = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pieces.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            pieces.append(out.to_ndarray().reshape(-1))
    return np.concatenate(pieces).astype("<i2").tobytes()


def silence24(seconds: float) -> bytes:
    return bytes(int(seconds * 24000) * 2)


def ulaw8(name: str) -> bytes:
    """``name`` as G.711 µ-law at 8 kHz."""
    samples = np.frombuffer(pcm24(name), dtype="<i2").astype(np.float64)[::3] / 32768.0
    return _linear_to_ulaw(samples)


def _linear_to_ulaw(samples: np.ndarray) -> bytes:
    """G.711 µ-law encoding (biased magnitude, segment, four bits, all bits inverted)."""
    pcm = np.clip(samples * 32768, -32635, 32635).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    pcm = np.abs(pcm) + 0x84
    exponent = np.floor(np.log2(pcm)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (pcm >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def words(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))


def wer(name: str, heard: str) -> float:
    return float(jiwer.wer(words(TEXTS[name]), words(heard)))


def chunks(data: bytes, seconds: float = 0.1, rate: int = 24000, width: int = 2) -> list[bytes]:
    size = int(seconds * rate) * width
    return [data[i : i + size] for i in range(0, len(data), size)]


__all__ = ["FIXTURES", "TEXTS", "chunks", "pcm24", "silence24", "ulaw8", "wer", "words"]
