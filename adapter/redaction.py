"""Masking card numbers, IBANs, e-mail addresses and phone numbers in a transcript.

Pure functions over ``str``, no I/O: the pipeline calls :func:`redact` (and
:func:`redact_pieces` for a transcript's timed segments) before any text is stored, put in a
note or sent to a chat model (``adapter.extras``).

What is found, in this order:

* **IBANs** (``iban``): two capital letters, two check digits, 11 to 30 capitals or digits,
  written as one run or in groups of four separated by single spaces; valid mod 97 only.
* **e-mail addresses** (``email``): a dot-atom local part of letters, digits and ``_%+-``
  (any script), ``@``, dotted domain labels and a top-level domain of letters (or ``xn--``).
  Quotes, brackets and a sentence's full stop around it stay.
* **card numbers** (``cards``): 13 to 19 digits, Luhn-valid, as one run or in groups joined by
  a single space or dash (mixed separators too), e.g. ``4111 1111 1111 1111``. Groups are whole
  digit runs: a card inside a longer unbroken run of digits is not a card, but any run of whole
  groups of a longer sequence is tried (``my card 4111 1111 1111 1111 123``). English digit
  words count as groups of one digit (``four one one one …``, case-insensitive, mixable with
  numerals); nothing else spoken is read as digits ("oh", "double", "eleven" are ambiguous).
* **phone numbers** (``phone``): Google's libphonenumber (``phonenumbers``) with leniency
  VALID, run after the three above so a card's digits never join a phone candidate. Without a
  region only numbers written with ``+`` and a country code; with one (``"US"``, ``"ES"``) its
  national numbers too.

Each find becomes one placeholder naming its kind: ``[card ••••1111]`` (the last four digits,
what PCI DSS allows on display and receipts, so an agent can tell which card the customer
meant), ``[IBAN]``, ``[e-mail]``, ``[phone]``. Finds that overlap are masked once, as one
placeholder named after the longest of them. Placeholders already in the text are left alone,
so redacting twice changes nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import phonenumbers

__all__ = ["KINDS", "Redacted", "parse_kinds", "redact", "redact_pieces"]

KINDS: frozenset[str] = frozenset({"cards", "iban", "email", "phone"})

# Labels a tie between overlapping finds of the same length: the more sensitive first.
_PRIORITY = ("cards", "iban", "email", "phone")

_NEUTRAL = "\x00"  # stands in for masked text while later kinds are looked for

_PLACEHOLDER = re.compile(r"\[(?:card ••••[0-9]{4}|IBAN|e-mail|phone)\]")


@dataclass(frozen=True, slots=True)
class Redacted:
    """The masked text and how many of each requested kind were masked."""

    text: str
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class _Find:
    start: int
    end: int
    kind: str
    last4: str = ""


def parse_kinds(spec: str) -> frozenset[str]:
    """``"cards,iban"`` → ``frozenset({"cards", "iban"})``; an unknown name is a ValueError."""
    kinds = frozenset(part.strip().lower() for part in spec.split(",") if part.strip())
    unknown = kinds - KINDS
    if unknown:
        raise ValueError(f"unknown redaction kind(s) {sorted(unknown)}; known: {sorted(KINDS)}")
    return kinds


def redact(text: str, kinds: frozenset[str], *, region: str | None = None) -> Redacted:
    """Mask the requested kinds in ``text``; ``region`` is for phone numbers without ``+``."""
    counts = {kind: 0 for kind in sorted(_checked(kinds))}
    out: list[str] = []
    pos = 0
    for find in _finds(text, kinds, region):
        out.append(text[pos : find.start])
        out.append(_placeholder(find))
        counts[find.kind] += 1
        pos = find.end
    out.append(text[pos:])
    return Redacted("".join(out), counts)


def redact_pieces(
    pieces: Sequence[str], kinds: frozenset[str], *, region: str | None = None
) -> list[str]:
    """Mask the requested kinds in ``pieces`` read as one text, joined by single spaces (the
    timed segments of a transcript): a card number said across two segments is found. A find
    that spans pieces is masked by one placeholder in the piece where it starts; the pieces
    after it lose the characters it covers."""
    joined = " ".join(pieces)
    starts: list[int] = []
    offset = 0
    for piece in pieces:
        starts.append(offset)
        offset += len(piece) + 1
    finds = _finds(joined, kinds, region)
    out: list[str] = []
    for piece, start in zip(pieces, starts, strict=True):
        end = start + len(piece)
        parts: list[str] = []
        pos = start
        for find in finds:
            if find.end <= start or find.start >= end:
                continue
            parts.append(joined[pos : max(find.start, start)])
            if find.start >= start:
                parts.append(_placeholder(find))
            pos = min(find.end, end)
        parts.append(joined[pos:end])
        out.append("".join(parts).strip() if len(parts) > 1 else piece)
    return out


def _checked(kinds: frozenset[str]) -> frozenset[str]:
    unknown = kinds - KINDS
    if unknown:  # a typo must not silently switch masking off
        raise ValueError(f"unknown redaction kind(s) {sorted(unknown)}; known: {sorted(KINDS)}")
    return kinds


def _finds(text: str, kinds: frozenset[str], region: str | None) -> list[_Find]:
    """What to mask in ``text``, in order, overlaps merged."""
    if not _checked(kinds) or not text:
        return []
    scan = _neutralize(text, [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)])
    finds: list[_Find] = []
    if "iban" in kinds:
        finds.extend(_ibans(scan))
    if "email" in kinds:
        finds.extend(_emails(scan))
    if "cards" in kinds:
        finds.extend(_cards(scan))
    merged = _merge(finds)
    if "phone" in kinds:
        scan = _neutralize(scan, [(f.start, f.end) for f in merged])
        merged = _merge(merged + list(_phones(scan, region)))
    return merged


def _neutralize(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = _NEUTRAL * (end - start)
    return "".join(chars)


def _placeholder(find: _Find) -> str:
    if find.kind == "cards":
        return f"[card ••••{find.last4}]"
    return {"iban": "[IBAN]", "email": "[e-mail]", "phone": "[phone]"}[find.kind]


def _merge(finds: list[_Find]) -> list[_Find]:
    """Overlapping finds become one, named after the longest (ties: ``_PRIORITY``)."""
    merged: list[_Find] = []
    group: list[_Find] = []
    end = -1
    for find in sorted(finds, key=lambda f: (f.start, -f.end)):
        if group and find.start < end:
            group.append(find)
            end = max(end, find.end)
            continue
        if group:
            merged.append(_one(group, end))
        group, end = [find], find.end
    if group:
        merged.append(_one(group, end))
    return merged


def _one(group: list[_Find], end: int) -> _Find:
    name = min(group, key=lambda f: (-(f.end - f.start), _PRIORITY.index(f.kind)))
    last4 = max((f for f in group if f.kind == "cards"), key=lambda f: f.end, default=name).last4
    return _Find(group[0].start, end, name.kind, last4)


# --- IBANs ------------------------------------------------------------------------------------

_IBAN_START = re.compile(r"(?<![^\W_])[A-Z]{2}[0-9]{2}")
_IBAN_COMPACT = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}(?![^\W_])")
_IBAN_GROUPED = re.compile(r"[A-Z]{2}[0-9]{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?(?![^\W_])")


def _iban_valid(compact: str) -> bool:
    if not 15 <= len(compact) <= 34 or not 2 <= int(compact[2:4]) <= 98:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ibans(text: str) -> Iterator[_Find]:
    taken = 0
    for start in _IBAN_START.finditer(text):
        s = start.start()
        if s < taken:
            continue
        compact = _IBAN_COMPACT.match(text, s)
        if compact and _iban_valid(compact.group()):
            taken = compact.end()
            yield _Find(s, taken, "iban")
            continue
        grouped = _IBAN_GROUPED.match(text, s)
        if grouped:
            groups = grouped.group().split(" ")
            for n in range(len(groups), 3, -1):  # a trailing group may not belong to it
                if _iban_valid("".join(groups[:n])):
                    taken = s + len(" ".join(groups[:n]))
                    yield _Find(s, taken, "iban")
                    break


# --- e-mail addresses -------------------------------------------------------------------------

_LOCAL_CHARS = re.compile(r"[\w%+\-.]")
_DOMAIN = re.compile(
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[A-Za-z0-9-]{2,59})",
    re.IGNORECASE,
)


def _emails(text: str) -> Iterator[_Find]:
    previous_at = -1
    at = text.find("@")
    while at != -1:
        start = at  # scan back to the previous "@" at most: linear over the whole text
        while start > previous_at + 1 and _LOCAL_CHARS.fullmatch(text[start - 1]):
            start -= 1
        local = text[start:at]
        dots = local.rfind("..")
        if dots != -1:  # "a..b@x.org": only what follows the double dot can be the address
            start += dots + 2
            local = text[start:at]
        while local.startswith("."):
            start += 1
            local = local[1:]
        if local and not local.endswith("."):
            domain = _DOMAIN.match(text, at + 1, min(len(text), at + 1 + 253))
            if domain:
                yield _Find(start, domain.end(), "email")
        previous_at = at
        at = text.find("@", at + 1)


# --- card numbers -----------------------------------------------------------------------------

_DIGIT_WORDS = {
    word: digit
    for digit, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
}
_WORD = "(?<![^\\W\\d_])(?:" + "|".join(_DIGIT_WORDS) + ")(?![^\\W\\d_])"
_TOKEN = re.compile(rf"\d+|{_WORD}", re.IGNORECASE)
_SEPARATORS = " \u00a0\u202f\\-\u2010\u2011\u2012\u2013"
_CHAIN = re.compile(rf"(?:\d+|{_WORD})(?:[{_SEPARATORS}](?:\d+|{_WORD}))*", re.IGNORECASE)


def _digits(token: str) -> list[int]:
    word = _DIGIT_WORDS.get(token.lower())
    return [word] if word is not None else [int(c) for c in token]


def _cards(text: str) -> Iterator[_Find]:
    for chain in _CHAIN.finditer(text):
        tokens = [
            (t.start(), t.end(), _digits(t.group()))
            for t in _TOKEN.finditer(text, chain.start(), chain.end())
        ]
        if sum(len(d) for _, _, d in tokens) < 13:
            continue
        # Every run of whole tokens with 13 to 19 digits, Luhn checked from its last digit.
        for last in range(len(tokens)):
            total = 0
            count = 0
            first = last
            while first >= 0 and count <= 19:
                for digit in reversed(tokens[first][2]):
                    if count % 2:
                        digit *= 2
                        total += digit - 9 if digit > 9 else digit
                    else:
                        total += digit
                    count += 1
                    if count > 19:
                        break
                if 13 <= count <= 19 and total % 10 == 0:
                    window = [d for _, _, ds in tokens[first : last + 1] for d in ds]
                    last4 = "".join(str(d) for d in window[-4:])
                    yield _Find(tokens[first][0], tokens[last][1], "cards", last4)
                first -= 1


# --- phone numbers ----------------------------------------------------------------------------


def _phones(text: str, region: str | None) -> Iterator[_Find]:
    region = region.strip().upper() if region and region.strip() else None
    matcher = phonenumbers.PhoneNumberMatcher(
        text,
        region,
        leniency=phonenumbers.Leniency.VALID,
        max_tries=max(65535, len(text)),  # the default would stop looking in a long transcript
    )
    for match in matcher:
        yield _Find(match.start, match.end, "phone")
