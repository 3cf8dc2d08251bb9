"""The live transcription demo: ``GET /console/live``.

A page that streams the browser's microphone to ``/v1/realtime?intent=transcription`` (see
docs/live.md) and shows the words as they come. Everything happens in the browser
(``static/live.js`` and the audio worklet ``static/live-worklet.js``): the page only serves the
form. The stream token is typed into the page and offered to the WebSocket as the subprotocol
``openai-insecure-api-key.TOKEN``: it is never sent to this route, stored, or put in a URL.
"""

from __future__ import annotations

from starlette.responses import Response

from adapter.web.console.auth import Ctx


async def live_page(ctx: Ctx) -> Response:
    return ctx.page("live.html", {"title": "Live transcription"})


__all__ = ["live_page"]
