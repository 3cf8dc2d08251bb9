"""Stand-ins for the services the adapter talks to: real HTTP servers on 127.0.0.1.

They ship with the package because ``transcriber demo`` runs against one; the tests use the
same ones, with stricter checks plugged in.
"""

from adapter.standins.chatwoot import (
    ADMIN_OPERATIONS,
    BOT_OPERATIONS,
    CONVERSATIONS_PAGE,
    CUSTOM_ATTRIBUTES_OP,
    LIST_CONVERSATIONS_OP,
    LIST_MESSAGES_OP,
    MESSAGES_OP,
    MESSAGES_PAGE,
    OPERATIONS,
    SHOW_OP,
    ChatwootStandIn,
    Operation,
    RecordedRequest,
    RequestCheck,
)

__all__ = [
    "ADMIN_OPERATIONS",
    "BOT_OPERATIONS",
    "CONVERSATIONS_PAGE",
    "CUSTOM_ATTRIBUTES_OP",
    "LIST_CONVERSATIONS_OP",
    "LIST_MESSAGES_OP",
    "MESSAGES_OP",
    "MESSAGES_PAGE",
    "OPERATIONS",
    "SHOW_OP",
    "ChatwootStandIn",
    "Operation",
    "RecordedRequest",
    "RequestCheck",
]
