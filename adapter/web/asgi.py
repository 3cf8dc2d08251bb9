"""ASGI entry for ``transcriber serve`` (uvicorn imports this factory in each worker)."""

from __future__ import annotations

from starlette.applications import Starlette

from adapter.runtime import build_runtime
from adapter.settings import get_settings
from adapter.web.app import create_app


def create() -> Starlette:
    return create_app(build_runtime(get_settings(), component="web", embedded=False))
