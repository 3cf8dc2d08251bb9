"""For the downloader's tests: a raw HTTP server on 127.0.0.1 whose paths answer with
hand-written bytes (lying headers, cut bodies, stalls, trickles, redirects anywhere), and
small helpers (``at``: one origin allowed to be private; ``leftovers``)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from adapter.helpdesk import Origin

Route = Callable[[BinaryIO, threading.Event], None]


class RawServer:
    """Answers each path with hand-written bytes (lying headers, cut bodies, stalls)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        self.release = threading.Event()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    line = self.rfile.readline(65537).decode("latin-1")
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    path = line.split(" ")[1] if " " in line else "/"
                    owner.hits.append(path)
                    route = owner.routes.get(path.split("?")[0])
                    if route is None:
                        self.wfile.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    else:
                        route(self.wfile, owner.release)  # type: ignore[arg-type]
                except OSError:
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def headers(status: str, *lines: str) -> bytes:
    return ("HTTP/1.1 " + status + "\r\n" + "".join(f"{h}\r\n" for h in lines) + "\r\n").encode()


def at(*urls: str) -> frozenset[Origin]:
    """The origins of ``urls`` as the only places a private address may be fetched from."""
    return frozenset(Origin.of(httpx.URL(url)) for url in urls)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir())
