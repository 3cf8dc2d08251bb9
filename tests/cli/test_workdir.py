"""A process that would use an unsafe work directory stops as it starts, in one line."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.cli.helpers import one_line_failure, run


def test_up_refuses_a_work_directory_others_can_write_to(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    work = Path(cli_env["TRANSCRIBER_WORK_DIR"])
    work.mkdir()
    work.chmod(0o777)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = run(["up", "--port", str(port)], cli_env, tmp_path)
    assert one_line_failure(refused) == (
        f"transcriber: the work directory {work} is writable by other users (mode 0777), so "
        "what is in it cannot be trusted: remove it (it holds only temporary files) or set "
        "TRANSCRIBER_WORK_DIR to a directory of this service's own"
    )
    assert not (work / "jobs").exists()
