"""Speech-to-text engines: what the rest of the service may use.

* :func:`build_engine` — the engine an account asks for (``openai`` or ``local``).
* :class:`OpenAIEngine` — the OpenAI API or a compatible server, via the official SDK.
* :class:`LocalEngine` — faster-whisper on the CPU with the weights of the ``local`` extra.
* :func:`to_iso639_1`, :func:`language_name`, :func:`language_hint` — language names and codes.

Every engine's ``transcribe(path, *, language=None, timeout=None)`` raises only
``adapter.errors`` types (see :class:`Engine`). The ``weights`` package assembles the bundled
weights (``python -m adapter.engines.weights --assemble DIR``).
"""

from adapter.engines.base import Engine, EngineLimits, Segment, Transcript
from adapter.engines.factory import DEFAULT_LOCAL_MODEL, build_engine, local_engine_available
from adapter.engines.languages import LANGUAGE_NAMES, language_hint, language_name, to_iso639_1
from adapter.engines.local import LocalEngine
from adapter.engines.openai_engine import DEFAULT_MODEL as DEFAULT_OPENAI_MODEL
from adapter.engines.openai_engine import OpenAIEngine

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "DEFAULT_OPENAI_MODEL",
    "LANGUAGE_NAMES",
    "Engine",
    "EngineLimits",
    "LocalEngine",
    "OpenAIEngine",
    "Segment",
    "Transcript",
    "build_engine",
    "language_hint",
    "language_name",
    "local_engine_available",
    "to_iso639_1",
]
