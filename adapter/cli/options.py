"""Argument types and the options several commands share, each with its help text.

A help text says what the option does, then its default in parentheses (and the environment
variable it stands in for, where there is one): ``transcriber COMMAND --help`` is the reference.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: ids travel through JSON and JavaScript: keep them exact there
MAX_ID = 2**53

#: what ``--engine`` falls back to, wherever the account or the command names none
ENGINE_DEFAULT = "TRANSCRIBER_DEFAULT_ENGINE, or else openai when OPENAI_API_KEY is set, else local"
#: the engines' own default models (a test holds these to adapter.engines)
MODEL_DEFAULT = "whisper-1 for openai, base for local"
ENGINES = ("openai", "local")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 < value < MAX_ID:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return value


def on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"{text!r} is neither on nor off")
    return text == "on"


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds >= 0")
    return value


def inboxes(text: str) -> list[int] | str:
    """``--inboxes``: ``all``, or comma-separated inbox ids."""
    if text.strip().lower() == "all":
        return "all"
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isascii() and part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'all' nor inbox ids such as 5,7")
    return [int(part) for part in parts]


def inbox_language(text: str) -> tuple[int, str | None]:
    """``--inbox-language 5=es`` (``5=``: remove inbox 5's hint)."""
    inbox, sep, code = text.partition("=")
    inbox = inbox.strip()
    if not sep or not inbox.isascii() or not inbox.isdigit() or int(inbox) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not INBOX_ID=LANGUAGE, such as 5=es")
    return int(inbox), code.strip() or None


def usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of USD") from None
    if not (math.isfinite(value) and 0 <= value <= 1_000_000_000):
        raise argparse.ArgumentTypeError(f"{text} is not an amount of USD from 0 to 1e9")
    return value


#: the forms a secret option takes, in its help (``adapter.cli.secrets`` reads them)
SAFER_FORMS = (
    "Give it as - (standard input; a prompt without echo on a terminal), @FILE (a file) or "
    "env:NAME (an environment variable): as a plain argument it shows in the process list and "
    "the shell's history, the least safe way"
)
#: the same, in the description of a command that takes secrets
SECRETS_NOTE = (
    "Each secret (a token, secret or key) is best given as - (standard input; a prompt without "
    "echo on a terminal), @FILE or env:NAME: given as a plain argument it shows in the process "
    "list and the shell's history, the least safe way (it works, with a warning)."
)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Kind = Literal["stdin", "file", "env", "argument"]


@dataclass(frozen=True)
class SecretSource:
    """Where the secret of ``option`` is read from: ``where`` is the file's path, the
    variable's name, or (``argument``) the secret itself, which ``repr`` never shows."""

    option: str
    kind: Kind
    where: str

    def __repr__(self) -> str:
        shown = "…" if self.kind == "argument" else self.where
        return f"SecretSource({self.option}, {self.kind}, {shown!r})"

    def describe(self) -> str:
        """The source in words, for a message (never the secret)."""
        if self.kind == "file":
            return f"the file {self.where}"
        if self.kind == "env":
            return f"the environment variable {self.where}"
        if self.kind == "stdin":
            return "standard input"
        return "the argument"


def parse_source(option: str, text: str) -> SecretSource:
    """The source ``text`` names; ``ValueError`` (in words for the user) when it names none."""
    if text == "-":
        return SecretSource(option, "stdin", "")
    if text.startswith("@"):
        if not text[1:]:
            raise ValueError("@ needs a file's path, as in @/run/secrets/token")
        return SecretSource(option, "file", text[1:])
    if text.startswith("env:"):
        name = text[4:]
        if not _ENV_NAME.match(name):
            raise ValueError(
                "env: needs an environment variable's name (letters, digits and _), as in "
                "env:CHATWOOT_TOKEN"
            )
        return SecretSource(option, "env", name)
    return SecretSource(option, "argument", text)


class SecretOption(argparse.Action):
    """Stores a :class:`SecretSource`; refuses a second ``-`` among the command's options."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        option = self.option_strings[0]
        try:
            source = parse_source(option, str(values))
        except ValueError as exc:
            parser.error(f"argument {option}: {exc}")
        if source.kind == "stdin":
            for other in vars(namespace).values():
                if (
                    isinstance(other, SecretSource)
                    and other.kind == "stdin"
                    and other.option != option
                ):
                    parser.error(
                        f"argument {option}: standard input (-) is already read for "
                        f"{other.option}; give one of them as @FILE or env:NAME"
                    )
        setattr(namespace, self.dest, source)


def listen_options(p: argparse.ArgumentParser) -> None:
    """``--host`` and ``--port`` of the HTTP receiver."""
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)",
    )
    p.add_argument("--port", type=port, default=8000, help="port to listen on (default: 8000)")


def account_id_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "account_id",
        type=positive_int,
        metavar="N",
        help="the Chatwoot account id (the N in /app/accounts/N)",
    )


def account_filter(p: argparse.ArgumentParser) -> None:
    """``--account-id N``: only this account's transcriptions."""
    p.add_argument(
        "--account-id",
        type=positive_int,
        metavar="N",
        help="only this account's transcriptions (default: every account)",
    )


def json_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} (default: text for people)")


def account_options(p: argparse.ArgumentParser, *, adding: bool) -> None:
    """The settings of a helpdesk account: required or defaulted when adding, left unchanged
    when updating unless given."""

    def default(text: str) -> str:
        return f"(default: {text})" if adding else f"(default: unchanged; on a new account: {text})"

    _connection_options(p, adding=adding, default=default)
    engine_options(p, default=default)
    _control_options(p, default=default)
    _extras_options(p, default=default)


def _connection_options(
    p: argparse.ArgumentParser, *, adding: bool, default: Callable[[str], str]
) -> None:
    """Where the account's Chatwoot is, and its secrets."""
    required = "(required)" if adding else "(default: unchanged)"
    p.add_argument(
        "--chatwoot-url",
        metavar="URL",
        required=adding,
        help=f"base URL of the Chatwoot instance, e.g. https://chat.example.com {required}",
    )
    p.add_argument(
        "--api-token",
        action=SecretOption,
        metavar="TOKEN",
        required=adding,
        help="Chatwoot access token the notes are posted with (an agent bot's token is "
        f"recommended); stored encrypted. {SAFER_FORMS} {required}",
    )
    p.add_argument(
        "--webhook-secret",
        action=SecretOption,
        metavar="SECRET",
        required=adding,
        help="the signing secret of the account's Chatwoot webhook; stored encrypted. A new one "
        f"replaces the old, which keeps working until --drop-previous-secret. {SAFER_FORMS} "
        f"{required}",
    )
    p.add_argument(
        "--openai-api-key",
        action=SecretOption,
        metavar="KEY",
        help=f"this account's own OpenAI key, stored encrypted. {SAFER_FORMS} "
        + default("none, so OPENAI_API_KEY of the service"),
    )
    p.add_argument(
        "--user-token",
        action=SecretOption,
        metavar="TOKEN",
        help="a Chatwoot user's access token, only to read conversations and messages (the "
        "reconciler and backfill; an agent bot's token cannot list them). An administrator's "
        f"sees every inbox, an agent's only theirs; stored encrypted. {SAFER_FORMS} "
        + default("none, so the account is not reconciled"),
    )
    p.add_argument(
        "--stream-token",
        action=SecretOption,
        metavar="TOKEN",
        help="the bearer token of live transcription (WS /v1/realtime, an OpenAI Realtime "
        "client's api_key): it alone picks the account, so give each account its own, at least "
        "24 characters without spaces (openssl rand -base64 32); stored encrypted, with a keyed "
        f"digest to find it. {SAFER_FORMS} "
        + default("none, so the account's streams are refused"),
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="the openai engine's endpoint: an OpenAI-compatible server (speaches, LocalAI, "
        "…), where --model takes any name " + default("OPENAI_BASE_URL, else api.openai.com"),
    )


def _control_options(p: argparse.ArgumentParser, *, default: Callable[[str], str]) -> None:
    """What gets transcribed (``adapter.controls``), what it may cost, what agents are told."""
    p.add_argument(
        "--inboxes",
        type=inboxes,
        metavar="ID,…|all",
        help="transcribe only the audio of these Chatwoot inboxes (ids, comma-separated); the "
        "rest is ignored " + default("all"),
    )
    p.add_argument(
        "--min-seconds",
        type=seconds,
        metavar="S",
        help="audio shorter than this is skipped (reason too_short) once measured, before "
        "anything is spent; 0 for no minimum " + default("0"),
    )
    p.add_argument(
        "--mode",
        choices=("auto", "on-demand"),
        help="auto: every voice note; on-demand: only the conversations an agent labels "
        "`transcribe` (needs --user-token to read them) " + default("auto"),
    )
    p.add_argument(
        "--inbox-language",
        type=inbox_language,
        action="append",
        metavar="ID=CODE",
        help="the language hint of one inbox's audio (ISO 639-1, over --language), e.g. 5=es; "
        "repeat for several; ID= removes it " + default("none"),
    )
    p.add_argument(
        "--monthly-budget-usd",
        type=usd,
        metavar="X",
        help="what the engine may cost this account in a calendar month (UTC), in USD: at 80%% "
        "the admins are warned once, and audio that would pass it is skipped (reason budget) "
        "before anything is spent; 0 for no budget " + default("0"),
    )
    p.add_argument(
        "--failure-notes",
        type=on_off,
        metavar="on|off",
        help="when a voice note cannot be transcribed, post one short private note saying so, "
        "so that an agent listens to it " + default("on"),
    )


def _extras_options(p: argparse.ArgumentParser, *, default: Callable[[str], str]) -> None:
    """What a note holds beyond the transcript (``adapter.extras``); text options take ``off``."""
    p.add_argument(
        "--summary-min-seconds",
        type=seconds,
        metavar="S",
        help="audio at least this long gets a short summary at the top of its note, written by "
        "the chat model; 0 for no summaries " + default("0"),
    )
    p.add_argument(
        "--chat-model",
        metavar="NAME|off",
        help="the chat model of summaries and translations (its tokens count in usage); off: "
        "none, so no summaries and translation into English only, by the engine "
        + default("gpt-4o-mini"),
    )
    p.add_argument(
        "--chat-base-url",
        metavar="URL|off",
        help="an OpenAI-compatible chat endpoint (a self-hosted llama.cpp, Ollama or vLLM "
        "server: it gets the OpenAI key only if it is the engine's own endpoint) "
        + default("the openai engine's endpoint; a local-engine account has no chat model"),
    )
    p.add_argument(
        "--translate-to",
        metavar="CODE|off",
        help="translate transcripts in another language into this one (ISO 639-1); the note "
        "shows both. By the chat model, or without one, into English only, by the engine's "
        "translate task (billed again) " + default("off"),
    )
    p.add_argument(
        "--redact",
        metavar="KINDS|off",
        help="mask these in every text stored, posted or sent to the chat model: cards "
        "(Luhn-valid numbers), iban, email, phone; comma-separated " + default("off"),
    )
    p.add_argument(
        "--phone-region",
        metavar="CC|off",
        help="read national phone numbers of this region (US, GB, ES…) for --redact phone; "
        "without it only numbers said with + and a country code " + default("off"),
    )
    p.add_argument(
        "--speakers",
        metavar="NAME,NAME|on|off",
        help="transcribe a stereo call recording whose channels hold different speakers per "
        "channel and show turns with these labels (left, right); 'on' for Speaker 1,Speaker 2. "
        "Both channels are billed " + default("off"),
    )


def engine_options(
    p: argparse.ArgumentParser, *, default: Callable[[str], str] = "(default: {})".format
) -> None:
    """How audio is transcribed: ``--engine``, ``--model``, ``--language`` and whether long
    silences are cut (``remove_silence``: None when neither flag is given)."""
    p.add_argument(
        "--engine",
        choices=ENGINES,
        help="speech-to-text engine: openai (OpenAI or a compatible server) or local "
        "(offline) " + default(ENGINE_DEFAULT),
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="engine model: base or tiny.en (local); whisper-1, gpt-4o-transcribe, "
        "gpt-4o-mini-transcribe… (openai at api.openai.com; others refused) "
        + default(MODEL_DEFAULT),
    )
    p.add_argument(
        "--language",
        metavar="CODE",
        help="ISO 639-1 language hint, e.g. en or es " + default("the engine detects it"),
    )
    silence = p.add_mutually_exclusive_group()
    silence.add_argument(
        "--remove-silence",
        dest="remove_silence",
        action="store_true",
        default=None,
        help="cut long silences before sending the audio " + default("cut"),
    )
    silence.add_argument(
        "--keep-silence",
        dest="remove_silence",
        action="store_false",
        help="send the audio with its silences " + default("cut"),
    )


__all__ = [
    "ENGINES",
    "ENGINE_DEFAULT",
    "MAX_ID",
    "MODEL_DEFAULT",
    "SAFER_FORMS",
    "SECRETS_NOTE",
    "SecretOption",
    "SecretSource",
    "account_filter",
    "account_id_argument",
    "account_options",
    "engine_options",
    "json_option",
    "listen_options",
    "on_off",
    "parse_source",
    "port",
    "positive_int",
    "seconds",
]
