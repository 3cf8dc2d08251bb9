"""helpdesk-transcriber: transcribes Chatwoot audio attachments into private notes.

Public surface for other code (the CLI is the user interface):
"""

from adapter.errors import PermanentError, TranscriberError, TransientError
from adapter.settings import Settings, get_settings

__version__ = "0.1.0"

__all__ = [
    "PermanentError",
    "Settings",
    "TranscriberError",
    "TransientError",
    "__version__",
    "get_settings",
]
