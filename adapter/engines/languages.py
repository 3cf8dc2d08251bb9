"""Language names and codes: whatever an engine reports, as ISO 639-1.

whisper-1's ``verbose_json`` names the language in English ("english", "spanish"); faster-whisper
and most OpenAI-compatible servers give Whisper's own codes ("en", "es"). Whisper's codes are ISO
639-1 except three: ``jw`` (Javanese, ISO ``jv``), ``yue`` (Cantonese, folded into its
macrolanguage ``zh``) and ``haw`` (Hawaiian, which has no ISO 639-1 code and so maps to None).

Pure functions over strings; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from adapter.errors import ConfigError

#: Every language Whisper knows, by its ISO 639-1 code, with the English name whisper-1 reports
#: (lower-cased by the API). Hawaiian is left out: it has no ISO 639-1 code.
_NAMES: dict[str, str] = {
    "af": "Afrikaans",
    "am": "Amharic",
    "ar": "Arabic",
    "as": "Assamese",
    "az": "Azerbaijani",
    "ba": "Bashkir",
    "be": "Belarusian",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "bo": "Tibetan",
    "br": "Breton",
    "bs": "Bosnian",
    "ca": "Catalan",
    "cs": "Czech",
    "cy": "Welsh",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fo": "Faroese",
    "fr": "French",
    "gl": "Galician",
    "gu": "Gujarati",
    "ha": "Hausa",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "ht": "Haitian Creole",
    "hu": "Hungarian",
    "hy": "Armenian",
    "id": "Indonesian",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "jv": "Javanese",
    "ka": "Georgian",
    "kk": "Kazakh",
    "km": "Khmer",
    "kn": "Kannada",
    "ko": "Korean",
    "la": "Latin",
    "lb": "Luxembourgish",
    "ln": "Lingala",
    "lo": "Lao",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "mg": "Malagasy",
    "mi": "Maori",
    "mk": "Macedonian",
    "ml": "Malayalam",
    "mn": "Mongolian",
    "mr": "Marathi",
    "ms": "Malay",
    "mt": "Maltese",
    "my": "Myanmar",
    "ne": "Nepali",
    "nl": "Dutch",
    "nn": "Nynorsk",
    "no": "Norwegian",
    "oc": "Occitan",
    "pa": "Punjabi",
    "pl": "Polish",
    "ps": "Pashto",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sa": "Sanskrit",
    "sd": "Sindhi",
    "si": "Sinhala",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sn": "Shona",
    "so": "Somali",
    "sq": "Albanian",
    "sr": "Serbian",
    "su": "Sundanese",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "tg": "Tajik",
    "th": "Thai",
    "tk": "Turkmen",
    "tl": "Tagalog",
    "tr": "Turkish",
    "tt": "Tatar",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "uz": "Uzbek",
    "vi": "Vietnamese",
    "yi": "Yiddish",
    "yo": "Yoruba",
    "zh": "Chinese",
}

#: Whisper codes that are not ISO 639-1, and what they become (None: no ISO 639-1 code).
_WHISPER_CODES: dict[str, str | None] = {"jw": "jv", "yue": "zh", "haw": None}

#: Other English names Whisper (and people) use for the same languages.
_ALIASES: dict[str, str | None] = {
    "burmese": "my",
    "cantonese": "zh",
    "castilian": "es",
    "farsi": "fa",
    "flemish": "nl",
    "haitian": "ht",
    "hawaiian": None,
    "letzeburgesch": "lb",
    "mandarin": "zh",
    "moldavian": "ro",
    "moldovan": "ro",
    "norwegian nynorsk": "nn",
    "panjabi": "pa",
    "pushto": "ps",
    "sinhalese": "si",
    "valencian": "ca",
}

_BY_NAME: dict[str, str | None] = {name.lower(): code for code, name in _NAMES.items()}
_BY_NAME.update(_ALIASES)

#: a language tag: "en", "EN", "en-US", "pt_BR", "yue", "zh-Hant-TW"
_TAG = re.compile(r"^([a-z]{2,3})(?:-[a-z0-9]{1,8})*$")

#: ISO 639-1 code → English name, for every language Whisper transcribes that has such a code.
LANGUAGE_NAMES: Mapping[str, str] = MappingProxyType(_NAMES)


def to_iso639_1(value: str | None) -> str | None:
    """The ISO 639-1 code (lower case) for a language name or code, or None when unknown.

    Accepts Whisper's English names in any case ("english", "Spanish", "haitian creole"), their
    usual aliases ("castilian", "mandarin"), ISO 639-1 codes and language tags ("EN", "pt_BR"),
    and Whisper's own codes ("jw" → "jv", "yue" → "zh").
    """
    if value is None:
        return None
    text = " ".join(value.strip().lower().replace("_", "-").split())
    if not text:
        return None
    tag = _TAG.match(text)
    if tag is not None:
        primary = tag.group(1)
        if primary in _NAMES:
            return primary
        if primary in _WHISPER_CODES:
            return _WHISPER_CODES[primary]
    return _BY_NAME.get(text)


def language_name(code: str | None) -> str | None:
    """The English name of a language ("es" → "Spanish"), or None when unknown."""
    iso = to_iso639_1(code)
    return None if iso is None else _NAMES[iso]


def language_hint(language: str | None) -> str | None:
    """The ISO 639-1 code of a caller's language hint; None for no hint (None or blank).

    Raises :class:`ConfigError` for a hint that names no language Whisper knows.
    """
    if language is None or not language.strip():
        return None
    code = to_iso639_1(language)
    if code is None:
        raise ConfigError(f"unknown language {language!r}: use an ISO 639-1 code like 'en'")
    return code


__all__ = ["LANGUAGE_NAMES", "language_hint", "language_name", "to_iso639_1"]
