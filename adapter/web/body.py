"""Read a request body once, under a size cap, without holding more than the cap."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body (declared or sent) is over the limit: answer 413."""


def declared_too_large(request: Request, limit: int) -> bool:
    """Whether the request's ``Content-Length`` says its body is over ``limit`` bytes."""
    declared = request.headers.get("content-length", "").strip()
    return (
        declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit)
    )


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body; :class:`BodyTooLarge` as soon as it is known to exceed ``limit``.

    A declared ``Content-Length`` over the limit is refused before anything is read.
    Raises Starlette's ``ClientDisconnect`` when the client goes away (also when the server
    closed a connection whose body did not arrive in time: ``adapter.web.server``).
    """
    if declared_too_large(request, limit):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["BodyTooLarge", "declared_too_large", "read_capped"]
