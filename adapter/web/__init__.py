"""The HTTP side: webhook receiver, health checks and admin API."""

from adapter.web.app import create_app
from adapter.web.signing import SignatureError, sign, verify

__all__ = ["SignatureError", "create_app", "sign", "verify"]
