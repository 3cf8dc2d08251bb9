"""Stand-ins for the services the adapter talks to: real HTTP servers on 127.0.0.1.

They ship with the package because ``transcriber demo`` runs against one; the tests use the
same ones, with stricter checks plugged in.
"""

from adapter.standins.chatwoot import (
    CUSTOM_ATTRIBUTES_OP,
    MESSAGES_OP,
    SHOW_OP,
    ChatwootStandIn,
    Operation,
    RecordedRequest,
    RequestCheck,
)

__all__ = [
    "CUSTOM_ATTRIBUTES_OP",
    "MESSAGES_OP",
    "SHOW_OP",
    "ChatwootStandIn",
    "Operation",
    "RecordedRequest",
    "RequestCheck",
]
