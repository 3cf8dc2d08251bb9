"""``python -m adapter``: the same as the ``transcriber`` command."""

from adapter.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
