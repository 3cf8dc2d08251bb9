"""Reading the secret options: where a secret given to the command line comes from.

A secret option (``--api-token``, ``--webhook-secret``, ``--openai-api-key``, ``--user-token``)
takes one of

    ``-``          standard input: a prompt without echo on a terminal, else everything piped in
    ``@PATH``      the file PATH (a Docker or Kubernetes secret, ``@<(pass show …)``)
    ``env:NAME``   the environment variable NAME
    ``VALUE``      the secret itself: the least safe way, since it shows in the process list and
                   in the shell's history; it works, with a warning on stderr

and one trailing newline is stripped from what is read. A secret that starts with ``@`` or
``env:``, or is ``-``, is therefore given by one of the other forms.

Two steps, so that nothing is read or asked before the command line is whole:

- parsing (``adapter.cli.options.SecretOption``, an argparse action) only names the source, a
  ``SecretSource``, and refuses what cannot work: an ``@`` without a path, a bad variable name,
  ``-`` for two options (standard input is read once). Bad usage: exit 2, as argparse's.
- :func:`read_secrets`, first thing in a command's handler, reads every source, registers each
  value with the log redaction and puts it in the namespace in place of its source. What
  cannot be read (a missing, unreadable, empty or too large file, a directory, an unset or
  empty variable, nothing on standard input) is a :class:`~adapter.cli.Failure`: one line
  naming the option and the file or variable, never the secret; exit 1.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import warnings

from adapter.cli import Failure
from adapter.cli.options import SecretSource
from adapter.observability.redact import register_secret

#: at most this much is read from a file or standard input: a secret is far shorter
MAX_SECRET_BYTES = 64 * 1024


def read_secrets(args: argparse.Namespace) -> None:
    """Read every secret option's source in ``args`` and put the secret in its place,
    registered with the log redaction. Plain arguments are kept, with a warning on stderr."""
    for dest, value in sorted(vars(args).items()):
        if isinstance(value, SecretSource):
            secret = read(value)
            register_secret(secret)
            setattr(args, dest, secret)


def read(source: SecretSource) -> str:
    """The secret ``source`` names, one trailing newline stripped; :class:`Failure` when it
    cannot be had."""
    if source.kind == "argument":
        print(
            f"warning: {source.option} given as an argument shows in the process list and the "
            f"shell's history; give {source.option} - (standard input), @FILE or env:NAME",
            file=sys.stderr,
        )
        text = source.where
    elif source.kind == "env":
        value = os.environ.get(source.where)
        if value is None:
            raise Failure(f"{source.option}: the environment variable {source.where} is not set")
        text = value
    elif source.kind == "file":
        text = _decode(source, _read_file(source))
    else:
        text = _read_stdin(source)
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    if not text:
        raise Failure(f"{source.option}: {source.describe()} is empty")
    return text


def _read_file(source: SecretSource) -> bytes:
    path = source.where
    try:
        with open(path, "rb") as file:  # a pipe (@<(…)) too: no size is known before reading
            data = file.read(MAX_SECRET_BYTES + 1)
    except IsADirectoryError:
        raise Failure(f"{source.option}: the path {path} is a directory, not a file") from None
    except FileNotFoundError:
        # not echoed: a secret given as an argument that happens to begin with @ lands here
        raise Failure(
            f"{source.option}: the file it names does not exist (a secret that begins with @ "
            "must come from a file, standard input or env:NAME)"
        ) from None
    except OSError as exc:
        raise Failure(f"{source.option}: cannot read {path}: {exc.strerror}") from None
    _check_size(source, data)
    return data


def _read_stdin(source: SecretSource) -> str:
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        raise Failure(f"{source.option}: there is no standard input to read")
    if stdin.isatty():
        with warnings.catch_warnings():
            # getpass would read with echo where it cannot turn it off: refuse instead
            warnings.simplefilter("error", getpass.GetPassWarning)
            try:
                return getpass.getpass(f"{source.option}: ")
            except getpass.GetPassWarning:
                raise Failure(
                    f"{source.option}: this terminal cannot hide what is typed; give "
                    f"{source.option} @FILE or env:NAME"
                ) from None
            except EOFError:
                return ""
    buffer = getattr(stdin, "buffer", None)  # None: a text stream without bytes beneath
    data = (buffer or stdin).read(MAX_SECRET_BYTES + 1)
    data = data.encode() if isinstance(data, str) else data
    _check_size(source, data)
    return _decode(source, data)


def _check_size(source: SecretSource, data: bytes) -> None:
    if len(data) > MAX_SECRET_BYTES:
        raise Failure(
            f"{source.option}: {source.describe()} holds more than {MAX_SECRET_BYTES // 1024} "
            "KiB, which is no secret; give what holds only the secret"
        )


def _decode(source: SecretSource, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure(f"{source.option}: {source.describe()} is not UTF-8 text") from None


__all__ = ["MAX_SECRET_BYTES", "read", "read_secrets"]
