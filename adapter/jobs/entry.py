"""Imported by each ``transcriber worker`` process (Dramatiq's CLI): builds the runtime.

Order matters: logging and Sentry first, then the Redis broker, then the actors.
"""

from __future__ import annotations

from adapter.jobs.entry_support import start_background
from adapter.runtime import build_runtime
from adapter.settings import get_settings

runtime = build_runtime(get_settings(), component="worker", embedded=False)
broker = runtime.broker
_stops = start_background(runtime)
