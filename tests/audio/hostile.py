"""Files that are not audio, or audio forged to hurt: what ``probe`` and ``prepare`` must refuse.

``HOSTILE[case](fixtures_dir, path)`` writes the case to ``path``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

#: cases that hold no audio at all (a document, an image, a video): "not audio", not "bad audio"
NOT_AUDIO = frozenset({"jpeg named ogg", "pdf", "video without audio"})


def _pictures(path: Path, format: str, codec: str, pix_fmt: str, seconds: int) -> Path:
    """A 16x16 black picture per second, and nothing else: an image, or a video without sound."""
    image = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
    with av.open(str(path), "w", format=format) as out:
        stream = out.add_stream(codec, rate=1)
        stream.width = stream.height = 16
        stream.pix_fmt = pix_fmt
        for second in range(seconds):
            image.pts = second
            for packet in stream.encode(image.reformat(format=pix_fmt)):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _ogg_headers_then_garbage(fixtures: Path, path: Path) -> Path:
    whole = (fixtures / "en1.ogg").read_bytes()
    second_page = whole.index(b"OggS", 4)
    third_page = whole.index(b"OggS", second_page + 4)
    garbage = np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    path.write_bytes(whole[:third_page] + garbage.replace(b"OggS", b"0ggS"))
    return path


def _forged_wav(channels: int, rate: int, bits: int) -> Callable[[Path, Path], object]:
    """A WAV header declaring 2 GB of data in an odd format, over 200 kB of noise."""

    def write(fixtures: Path, path: Path) -> Path:
        block = max(1, channels * bits // 8) & 0xFFFF
        header = b"RIFF" + struct.pack("<I", 0x7FFFFFF0) + b"WAVE"
        fmt = b"fmt " + struct.pack(
            "<IHHIIHH", 16, 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits
        )
        noise = np.random.default_rng(2).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
        path.write_bytes(header + fmt + b"data" + struct.pack("<I", 0x7FFFFFD0) + noise)
        return path

    return write


HOSTILE: dict[str, Callable[[Path, Path], object]] = {
    # 200 kB at 1 Hz would be 28 hours of samples once resampled to 16 kHz
    "wav at 1 Hz": _forged_wav(1, 1, 16),
    "wav with 1000 channels": _forged_wav(1000, 8000, 16),
    "wav with 0 bits": _forged_wav(1, 8000, 0),
    "empty": lambda fx, p: p.write_bytes(b"") and p,
    "zero bytes": lambda fx, p: p.write_bytes(bytes(4096)) and p,
    "random bytes": lambda fx, p: (
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
        and p
    ),
    "pdf": lambda fx, p: (
        p.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 40) and p
    ),
    "truncated ogg": lambda fx, p: p.write_bytes((fx / "en1.ogg").read_bytes()[:1000]) and p,
    "jpeg named ogg": lambda fx, p: _pictures(p, "image2", "mjpeg", "yuvj420p", 1),
    "video without audio": lambda fx, p: _pictures(p, "mp4", "mpeg4", "yuv420p", 2),
    "ogg headers then garbage": _ogg_headers_then_garbage,
    "playlist posing as audio": lambda fx, p: (
        p.write_bytes(b"#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:9/x.mp3\n") and p
    ),
    "text": lambda fx, p: p.write_text("hello, this is not a voice note\n" * 100) and p,
}
