"""Customers' audio, made fit for a speech-to-text engine; transcripts of chunks, made whole.

Everything is done with PyAV (FFmpeg's libraries, bundled in the wheel): no ffmpeg binary.

Public API::

    probe(path: Path) -> AudioInfo
        container, codec, duration (measured by demuxing), sample_rate, channels, bit_rate,
        size, extension (the engine-accepted extension to upload the file under as it is, or
        None: AMR, 3GP, CAF, ...). Raises NotAudio for non-audio input (a document, an image,
        a video without sound), BadAudio for empty or corrupt audio.

    prepare(src: Path, workdir: Path, limits: EngineLimits, *, remove_silence=True,
            target_chunk_seconds=600.0, overlap_seconds=2.0, channel=None) -> PreparedAudio
        PreparedAudio(info, chunks: tuple[AudioChunk, ...], audio_seconds, billed_seconds,
        upload_bytes). Each AudioChunk(index, path, offset, duration, billed_seconds, timemap,
        lead_overlap, source_duration) is a file the engine accepts as it is. Small accepted
        files are copied or remuxed; anything else becomes 16 kHz mono Opus in Ogg, silences
        over a second cut out (remove_silence), split at quiet moments near
        target_chunk_seconds with overlap_seconds of overlap when the engine's limits or
        max_seconds call for it. ``chunks`` is empty when the audio is all silence. An engine
        with no max_bytes and no max_seconds gets the source path itself when nothing is cut.
        Streams in bounded memory; writes only inside workdir. ``channel`` (0, 1, ...) shapes
        that channel alone, always as Opus; of a two-channel file, the frames where the other
        channel leads (the other speaker's crosstalk) are encoded as silence.

    measure_channels(path: Path, *, max_seconds=None) -> ChannelMeasure
    separate_speakers(measure) -> bool; channels_differ(measure) -> ChannelVerdict
        whether a stereo file holds one speaker per channel (a call recording) or is really
        mono (the same signal twice, a silent channel, two microphones in one room), with the
        figures and a reason code for the logs.

    TimeMap.to_original(t: float) -> float
        seconds in a chunk file -> seconds in the original audio.

    stitch(parts: Sequence[tuple[AudioChunk, Transcript]]) -> Transcript
        one transcript: segment times in original audio, overlap words removed once, the
        language of most seconds, the original duration.

    sweep(workdir_root: Path, older_than_seconds: float) -> int
        removes per-job directories a killed worker left behind; returns how many.
"""

from adapter.audio.decode import SAMPLE_RATE
from adapter.audio.prepare import AudioChunk, PreparedAudio, prepare
from adapter.audio.probe import AudioInfo, probe
from adapter.audio.stereo import (
    ChannelMeasure,
    ChannelVerdict,
    channels_differ,
    measure_channels,
    separate_speakers,
)
from adapter.audio.stitch import stitch
from adapter.audio.sweep import sweep
from adapter.audio.timemap import TimeMap

__all__ = [
    "SAMPLE_RATE",
    "AudioChunk",
    "AudioInfo",
    "ChannelMeasure",
    "ChannelVerdict",
    "PreparedAudio",
    "TimeMap",
    "channels_differ",
    "measure_channels",
    "prepare",
    "probe",
    "separate_speakers",
    "stitch",
    "sweep",
]
