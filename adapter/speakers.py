"""Speaker turns of a call recorded with one speaker per channel (issue 15, item 3).

A stereo call recording whose channels hold different people (the agent on one, the customer
on the other: ``adapter.audio.stereo`` decides) is transcribed channel by channel; this module
weaves the two channels' timed segments back into one conversation. Pure: no I/O.

    parse_labels("Agent, Customer") -> ("Agent", "Customer")       the account's --speakers
    merge_turns(first, second, labels) -> list[Turn]               segments -> turns in time order
    turns_text(turns) -> "Agent: …\\nCustomer: …"                    what the note shows

Why turns rather than segments: an engine cuts one person's speech into several segments
(Whisper every few seconds); the note reads as a dialogue only when a speaker's consecutive
segments are one line. Times are seconds of the original audio (the chunks' time maps already
applied), so both channels share one clock.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from adapter.engines.base import Segment

__all__ = [
    "DEFAULT_LABELS",
    "MAX_LABEL_CHARS",
    "Turn",
    "merge_turns",
    "parse_labels",
    "turns_text",
]

#: the labels when an account turns speakers on without naming them
DEFAULT_LABELS: tuple[str, str] = ("Speaker 1", "Speaker 2")
#: longest label: a name or a role, not a sentence (each line of the note starts with it)
MAX_LABEL_CHARS = 40

#: Unicode categories refused in a label: control, format (bidi overrides and invisible
#: characters that would reorder or hide the note's text), surrogates, private use,
#: unassigned, and line or paragraph separators (a label is one line)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class Turn:
    """What one speaker said without the other speaking in between."""

    speaker: int  #: 0 for the first channel (``labels[0]``), 1 for the second
    label: str
    start: float  #: seconds into the original audio
    end: float
    text: str


def parse_labels(spec: str) -> tuple[str, str]:
    """``"Agent, Customer"`` → ``("Agent", "Customer")``: the names of the first and second
    channel's speakers.

    Raises ``ValueError`` (its message names the rule, never echoing the input) unless there
    are exactly two comma-separated names, each non-empty once trimmed, at most
    ``MAX_LABEL_CHARS`` characters, free of control and format characters, and different.
    """
    parts = [part.strip() for part in spec.split(",")]
    if len(parts) != 2:
        raise ValueError("speaker labels must be exactly two names separated by a comma")
    for part in parts:
        if not part:
            raise ValueError("speaker labels must not be empty")
        if len(part) > MAX_LABEL_CHARS:
            raise ValueError(f"each speaker label must be at most {MAX_LABEL_CHARS} characters")
        if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in part):
            raise ValueError("speaker labels must not contain control or invisible characters")
    first, second = parts
    if first.casefold() == second.casefold():
        raise ValueError("the two speaker labels must differ")
    return first, second


def merge_turns(
    first: Sequence[Segment],
    second: Sequence[Segment],
    labels: tuple[str, str] = DEFAULT_LABELS,
) -> list[Turn]:
    """The two speakers' segments as turns in time order.

    Segments are ordered by their start; segments starting at the same moment keep their
    input order (the first speaker's before the second's, each list in its own order).
    Segments whose text is blank are dropped; then consecutive segments of one speaker
    become one turn: from the first one's start to the latest end, texts joined by a space.
    """
    if len(labels) != 2:
        raise ValueError("merge_turns needs exactly two labels")
    timed = sorted(
        (
            (segment.start, speaker, index, segment)
            for speaker, segments in enumerate((first, second))
            for index, segment in enumerate(segments)
            if segment.text.strip()
        ),
        key=lambda item: item[:3],
    )
    turns: list[Turn] = []
    for _, speaker, _, segment in timed:
        text = segment.text.strip()
        last = turns[-1] if turns else None
        if last is not None and last.speaker == speaker:
            turns[-1] = Turn(
                speaker,
                last.label,
                last.start,
                max(last.end, segment.end),
                f"{last.text} {text}",
            )
        else:
            turns.append(Turn(speaker, labels[speaker], segment.start, segment.end, text))
    return turns


def turns_text(turns: Sequence[Turn]) -> str:
    """One ``Label: text`` line per turn."""
    return "\n".join(f"{turn.label}: {turn.text}" for turn in turns)
