"""What the admin API and the CLI show of a transcription: progress in percent, no secret."""

from __future__ import annotations

import pytest

from adapter.store import State, Transcription
from adapter.usage import Prices
from adapter.views import percent_done, transcription_view


def row(**fields: object) -> Transcription:
    base: dict[str, object] = {
        "id": 1,
        "account_id": 3,
        "conversation_id": 4,
        "message_id": 5,
        "attachment_id": 6,
        "channel": "email",
        "source_url_enc": "gAAAAA-encrypted-url",
        "state": State.transcribing.value,
    }
    return Transcription(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "percent"),
    [
        ({}, 0.0),  # not planned yet
        ({"audio_seconds": 2100.0, "seconds_done": 525.0, "chunks_total": 7}, 25.0),
        ({"chunks_total": 4, "chunks_done": 1}, 25.0),  # no duration known: by chunks
        ({"audio_seconds": 10.0, "seconds_done": 12.0}, 100.0),  # overlaps never pass 100
        ({"state": State.transcribed.value}, 100.0),
        ({"state": State.delivered.value, "audio_seconds": 60.0}, 100.0),
    ],
)
def test_percent_done(fields: dict[str, object], percent: float) -> None:
    assert percent_done(row(**fields)) == percent


def test_the_view_shows_progress_and_no_secret() -> None:
    view = transcription_view(
        row(audio_seconds=600.0, seconds_done=300.0, chunks_total=2), Prices()
    )
    assert view["progress"]["percent"] == 50.0
    assert (view["progress"]["chunks_total"], view["progress"]["seconds_total"]) == (2, 600.0)
    assert "gAAAAA" not in repr(view)
