"""Read a request body once, under a size cap, without holding more than the cap."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body (declared or sent) is over the limit: answer 413."""


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body; :class:`BodyTooLarge` as soon as it is known to exceed ``limit``.

    A declared ``Content-Length`` over the limit is refused before anything is read.
    Raises Starlette's ``ClientDisconnect`` when the client goes away.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["BodyTooLarge", "read_capped"]
