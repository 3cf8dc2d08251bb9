"""Attachment fields as Chatwoot sends them: normalised, and dropped when unusable."""

from __future__ import annotations

from typing import Any

import pytest

from channels import decide
from tests.channels.payloads import attachment, payload, summary


def test_payload_extension_is_normalised_and_preferred_over_filename() -> None:
    body = payload(
        attachment(file_type="file", extension=".OGG", filename="x.bin", content_type=None)
    )
    assert summary(body) == ("accepted", "audio", [(700, "ogg")])


def test_content_type_parameters_are_dropped() -> None:
    decision = decide(payload(attachment(content_type="Audio/OGG; codecs=opus")))
    assert decision.attachments[0].content_type == "audio/ogg"


def test_filename_is_percent_decoded_and_cannot_climb() -> None:
    decision = decide(payload(attachment(filename="..%2F..%2Fetc%2Fvoice%20n%C3%B3te.ogg")))
    assert decision.attachments[0].filename == "voice nóte.ogg"


@pytest.mark.parametrize(
    "data_url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://chatwoot.example.test/a.ogg",
        "//chatwoot.example.test/a.ogg",
        "/rails/active_storage/blobs/redirect/x/a.ogg",
        "https://user:pw@chatwoot.example.test/a.ogg",
        "https://chatwoot.example.test:99999/a.ogg",
        "http://[::1/a.ogg",
        "https://chatwoot.example.test/a b.ogg",
        "https://chatwoot.example.test/a\n.ogg",
        "https:///a.ogg",
        "",
        42,
        None,
        ["https://chatwoot.example.test/a.ogg"],
        "https://chatwoot.example.test/" + "a" * 9000,
    ],
)
def test_unusable_data_url_drops_the_attachment(data_url: Any) -> None:
    bad = attachment(700, data_url=data_url)
    bad["data_url"] = data_url
    good = attachment(701)
    assert [a for a, _ in summary(payload(bad, good))[2]] == [701]
    assert summary(payload(bad))[:2] == ("ignored", "no_audio")


@pytest.mark.parametrize("bad_id", [0, -1, True, False, "700", 7.0, None, 2**63, 2**200])
def test_unusable_attachment_id_drops_the_attachment(bad_id: Any) -> None:
    assert summary(payload(attachment(bad_id)))[:2] == ("ignored", "no_audio")


def test_largest_bigint_id_is_fine() -> None:
    assert summary(payload(attachment(2**63 - 1)))[2] == [(2**63 - 1, "ogg")]


def test_file_size_is_kept_only_when_sane() -> None:
    decision = decide(
        payload(
            attachment(700, file_size=-1),
            attachment(701, file_size=True),
            attachment(702, file_size=10),
        )
    )
    assert [a.file_size for a in decision.attachments] == [None, None, 10]
