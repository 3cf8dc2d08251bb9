"""What a process keeps for live transcription: the decode pool and the per-account stream
count, built once by ``adapter.wiring`` into the runtime (``Runtime.live``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from adapter.live.limits import StreamSlots
from adapter.live.pool import DecodePool
from adapter.live.recognizer import LocalOptions
from adapter.settings import Settings


def default_decoders(cpus: int | None = None) -> int:
    """Half the CPUs (at least one): the other half stays with the receiver and the workers."""
    return max(1, (cpus or os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class LiveParts:
    settings: Settings
    local: LocalOptions
    slots: StreamSlots

    @property
    def max_seconds(self) -> float:
        return self.settings.stream_max_seconds

    def close(self) -> None:
        self.local.pool.close()


def build_live(settings: Settings) -> LiveParts:
    cpus = os.cpu_count() or 2
    decoders = settings.stream_decoders or default_decoders(cpus)
    threads = max(1, cpus // (2 * decoders))
    return LiveParts(
        settings=settings,
        local=LocalOptions(DecodePool(decoders), threads),
        slots=StreamSlots(settings.stream_max_per_account),
    )


__all__ = ["LiveParts", "build_live", "default_decoders"]
