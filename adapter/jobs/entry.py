"""Imported by each ``transcriber worker`` process (Dramatiq's CLI): builds the runtime,
binds the actors to it, starts the background helpers and the decoding processes' fork server
(``adapter.audio.isolated``: so the first voice note does not wait for it)."""

from __future__ import annotations

from adapter.audio.isolated import warm
from adapter.jobs.background import start_background
from adapter.settings import get_settings
from adapter.wiring import build_runtime

runtime = build_runtime(get_settings(), component="worker", embedded=False)
broker = runtime.broker
_stops = start_background(runtime)
warm()
