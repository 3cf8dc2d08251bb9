"""adapter.redaction: each kind found and left alone, adversarial text, idempotence, properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.redaction import KINDS, Redacted, parse_kinds, redact

CARD = "4111111111111111"  # Visa's test number, Luhn-valid
AMEX = "378282246310005"  # 15 digits
NOT_LUHN = "4111111111111112"
IBAN_DE = "DE89 3704 0044 0532 0130 00"
IBAN_GB = "GB29 NWBK 6016 1331 9268 19"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    return next(body + c for c in "0123456789" if luhn_ok(body + c))


def unmasked_cards(text: str) -> list[str]:
    """Brute force: every run of whole digit groups (single space/dash) of 13-19 digits that is
    Luhn-valid."""
    found = []
    for chain in re.finditer(r"\d+(?:[ -]\d+)*", text):
        groups = re.findall(r"\d+", chain.group())
        for i in range(len(groups)):
            for j in range(i, len(groups)):
                digits = "".join(groups[i : j + 1])
                if 13 <= len(digits) <= 19 and luhn_ok("".join(str(int(c)) for c in digits)):
                    found.append(digits)
    return found


def only(kind: str, text: str, region: str | None = None) -> Redacted:
    return redact(text, frozenset({kind}), region=region)


# --- cards ---


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        (f"my card is {CARD}.", "my card is [card ••••1111]."),
        ("my card is 4111 1111 1111 1111.", "my card is [card ••••1111]."),
        ("my card is 4111-1111-1111-1111.", "my card is [card ••••1111]."),
        ("mixed 4111-1111 1111-1111 ok", "mixed [card ••••1111] ok"),
        ("split 41 11 1 1 1111 11 11 11 ok", "split [card ••••1111] ok"),
        (f"amex {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}", "amex [card ••••0005]"),
        ("then the code: 4111 1111 1111 1111 737", "then the code: [card ••••1111] 737"),
        ("it's 4111 1111 1111 1111, expiry 12/27", "it's [card ••••1111], expiry 12/27"),
        (
            "four one one one one one one one one one one one one one one one.",
            "[card ••••1111].",
        ),
        ("Four one one one 1111 one one one one 1111", "[card ••••1111]"),
        ("(4111111111111111)", "([card ••••1111])"),
    ],
)
def test_card_numbers_are_masked_keeping_the_last_four(spoken: str, expected: str) -> None:
    result = only("cards", spoken)
    assert result.text == expected
    assert result.counts == {"cards": 1}


@pytest.mark.parametrize(
    "spoken",
    [
        f"not a card {NOT_LUHN}",
        "not a card 4111 1111 1111 1112",
        "too short 4111 1111 1111",  # 12 digits
        "a reference 12345678901234567890123456 stays",  # a long unbroken run is not a card
        f"inside a longer run 99{CARD}99",
        "double spaced 4111  1111  1111  1111",  # not a single separator
        "order 1234, total 56.78, on 12/03/2024",
        "one of the four ones",
    ],
)
def test_what_is_not_a_valid_card_number_stays(spoken: str) -> None:
    assert only("cards", spoken) == Redacted(spoken, {"cards": 0})


def test_several_cards_in_one_text() -> None:
    text = f"first {CARD}, second {AMEX}, third {NOT_LUHN}, fourth 5500 0000 0000 0004."
    result = only("cards", text)
    assert result.text == (
        f"first [card ••••1111], second [card ••••0005], third {NOT_LUHN}, fourth [card ••••0004]."
    )
    assert result.counts == {"cards": 3}


def test_non_ascii_digits_are_digits() -> None:
    arabic = CARD.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert only("cards", f"رقم {arabic}").text == "رقم [card ••••1111]"


# --- IBANs ---


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        (f"IBAN {IBAN_DE}.", "IBAN [IBAN]."),
        ("IBAN DE89370400440532013000, thanks", "IBAN [IBAN], thanks"),
        (f"pay to {IBAN_GB} 2024", "pay to [IBAN] 2024"),  # a trailing group not part of it
        ("NO93 8601 1117 947", "[IBAN]"),  # the shortest country (15)
        ("ES91 2100 0418 4502 0005 1332 y ES12 3456", "[IBAN] y ES12 3456"),
    ],
)
def test_ibans_are_masked(spoken: str, expected: str) -> None:
    result = only("iban", spoken)
    assert result.text == expected
    assert result.counts == {"iban": 1}


@pytest.mark.parametrize(
    "spoken",
    [
        "DE89 3704 0044 0532 0130 01",  # check digits wrong: fails mod 97
        "DE88370400440532013000",
        "XDE89370400440532013000",  # inside a longer word
        "de89 3704 0044 0532 0130 00",  # lower case is not how IBANs are written
        "DE89 3704 0044",  # too short
    ],
)
def test_invalid_ibans_stay(spoken: str) -> None:
    assert only("iban", spoken) == Redacted(spoken, {"iban": 0})


# --- e-mail addresses ---


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("write to john.smith@example.com.", "write to [e-mail]."),
        ("(john+tag@mail.example.co.uk)", "([e-mail])"),
        ('"ana_1990@correo.es", she said', '"[e-mail]", she said'),
        ("<a-b@x-y.org>;", "<[e-mail]>;"),
        ("josé.garcía@empresa.es?", "[e-mail]?"),
        ("a@b.io,c@d.io", "[e-mail],[e-mail]"),
        ("email:john@example.com!", "email:[e-mail]!"),
        ("x..john@example.com", "x..[e-mail]"),
    ],
)
def test_email_addresses_are_masked_without_surrounding_punctuation(
    spoken: str, expected: str
) -> None:
    assert only("email", spoken).text == expected


@pytest.mark.parametrize(
    "spoken",
    ["at @ sign", "john@", "@example.com", "john@localhost", "john.@example.com", "a@b.c"],
)
def test_what_is_not_an_email_address_stays(spoken: str) -> None:
    assert only("email", spoken).text == spoken


# --- phone numbers ---


def test_phone_numbers_with_a_country_code() -> None:
    result = only("phone", "call +1 650-253-0000 or +34 612 345 678 today")
    assert result.text == "call [phone] or [phone] today"
    assert result.counts == {"phone": 2}


def test_national_numbers_need_a_region() -> None:
    text = "llámame al 612 345 678"
    assert only("phone", text).text == text
    assert only("phone", text, region="ES").text == "llámame al [phone]"
    assert only("phone", "call (650) 253-0000", region="us").text == "call [phone]"


def test_not_phone_numbers_stay() -> None:
    text = "it costs 12.50, order 1234, on 12/03/2024 at 10:30"
    assert only("phone", text, region="US").text == text


# --- overlaps, idempotence, errors ---


def test_cards_before_phones() -> None:
    text = "+34 612 345 678 4111 1111 1111 1111"
    assert redact(text, KINDS).text == "[phone] [card ••••1111]"
    result = redact(f"card {CARD} and phone +1 650 253 0000", KINDS, region="US")
    assert result.text == "card [card ••••1111] and phone [phone]"
    assert result.counts == {"cards": 1, "email": 0, "iban": 0, "phone": 1}


def test_overlapping_finds_are_masked_once() -> None:
    # The IBAN's digits hold a Luhn-valid run; it is masked once, as the IBAN.
    assert redact(f"{IBAN_DE} 1", frozenset({"cards", "iban"})).text == "[IBAN] 1"
    assert redact(f"{CARD}@example.com", KINDS).text == "[e-mail]"  # the longer find names it


def test_all_kinds_together_and_twice() -> None:
    text = (
        f"Hi, I'm ana@example.es, card 4111 1111 1111 1111, IBAN {IBAN_GB}, "
        "phone +44 20 7946 0958, order 4111 1111 1111 1112."
    )
    once = redact(text, KINDS)
    assert once.text == (
        "Hi, I'm [e-mail], card [card ••••1111], IBAN [IBAN], phone [phone], "
        "order 4111 1111 1111 1112."
    )
    assert redact(once.text, KINDS) == Redacted(
        once.text, {"cards": 0, "email": 0, "iban": 0, "phone": 0}
    )


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="card"):
        redact("x", frozenset({"card"}))
    with pytest.raises(ValueError, match="ssn"):
        parse_kinds("cards,ssn")
    assert parse_kinds(" cards, IBAN,email ,phone,") == KINDS
    assert parse_kinds("") == frozenset()


def test_no_kinds_changes_nothing() -> None:
    assert redact(f"{CARD} a@b.io", frozenset()) == Redacted(f"{CARD} a@b.io", {})


# --- properties ---

card_numbers = st.builds(
    luhn_complete,
    st.text(alphabet="0123456789", min_size=12, max_size=18),
)


@st.composite
def spoken_card(draw: st.DrawFn) -> str:
    """A Luhn-valid number cut into groups joined by single spaces or dashes."""
    digits = draw(card_numbers)
    out = digits[0]
    for c in digits[1:]:
        out += draw(st.sampled_from(["", "", "", " ", "-"])) + c
    return out


noise = st.lists(
    st.sampled_from([*"0123456789 -+@.()[]abcXYZ•é٣\n,:/", "one", " four ", "]"]),
    max_size=40,
).map("".join)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.sampled_from([None, "US", "ES", "GB", "XX"]))
def test_never_raises_and_is_idempotent(text: str, region: str | None) -> None:
    once = redact(text, KINDS, region=region)
    assert not unmasked_cards(once.text)
    assert redact(once.text, KINDS, region=region).text == once.text


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(noise, spoken_card(), noise, st.sampled_from([None, "US"]))
def test_no_luhn_valid_run_survives(before: str, card: str, after: str, region: str | None) -> None:
    text = f"{before} {card} {after}"
    once = redact(text, KINDS, region=region)
    assert not unmasked_cards(once.text)
    assert redact(once.text, KINDS, region=region).text == once.text
    assert not unmasked_cards(redact(text, frozenset({"cards"})).text)


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",), blacklist_characters="@")))
def test_text_without_digits_or_at_signs_is_unchanged(text: str) -> None:
    result = redact(text, KINDS, region="US")
    if not re.search(r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine)\b", text, re.I):
        assert result.text == text
