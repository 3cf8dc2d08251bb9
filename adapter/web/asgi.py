"""ASGI entry for ``transcriber serve`` (uvicorn imports this factory in each worker)."""

from __future__ import annotations

import gc

from starlette.applications import Starlette

from adapter.settings import get_settings
from adapter.web.app import create_app
from adapter.wiring import build_runtime


def create() -> Starlette:
    app = create_app(build_runtime(get_settings(), component="web", embedded=False))
    # everything built so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise pause every in-flight request
    gc.collect()
    gc.freeze()
    return app
