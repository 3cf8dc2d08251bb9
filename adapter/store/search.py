"""Full-text search over transcripts: PostgreSQL's text search or SQLite's FTS5.

Both indexes are made by migration 0005 and are not in the models. PostgreSQL's
``search_vector`` holds each transcript's words stemmed in its language (where PostgreSQL has a
dictionary for it) and every word as it is; SQLite's ``transcriptions_fts`` holds the words
folded to lower case without diacritics. A query is its words: a transcript matches when it
holds all of them. Each database reads the query with what read the transcripts: FTS5's
tokenizer (``fts5_query`` quotes the pieces), PostgreSQL's parser (so "12.50" or
"jane@example.com" stays one word there); ``search_terms`` (pure) says whether there is a
word at all. On PostgreSQL a language filter also matches
their stemmed forms in that language ("connecting" finds "connected").
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Table, column, func, literal_column, select, table, text
from sqlalchemy.engine import Engine

#: database objects the search owns, hidden from the comparison of models and schema
SEARCH_OBJECTS = frozenset(
    {
        "search_vector",
        "ix_transcriptions_search",
        "transcriptions_fts",
        "transcriptions_fts_config",
        "transcriptions_fts_data",
        "transcriptions_fts_docsize",
        "transcriptions_fts_idx",
    }
)
#: a query's words: at most this many, each at most this long (the rest is ignored)
MAX_TERMS = 16
MAX_TERM_LENGTH = 64
#: the longest query text PostgreSQL parses (the rest is ignored)
MAX_QUERY_CHARS = 1000
#: ISO 639-1 code → PostgreSQL text search configuration (as in migration 0005)
PG_CONFIGS = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french",
    "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip

_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_fts = table("transcriptions_fts", column("rowid"))


def search_terms(query: str) -> list[str]:
    """The words of a search box's text, lower-cased, in order, each once; punctuation and
    operators are not syntax here (any text is a valid query)."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        word = word[:MAX_TERM_LENGTH]
        if word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


def fts5_query(query: str) -> str:
    """An FTS5 MATCH expression for ``query``: each whitespace-separated piece holding a word
    character, as a quoted string (its quotes doubled), all of them required. FTS5 splits
    each piece with the tokenizer that split the transcripts, so scripts whose words hold
    combining marks (Devanagari, Arabic with vowel marks) are cut alike on both sides."""
    pieces: list[str] = []
    for piece in query.lower().split():
        if _WORD.search(piece) and piece not in pieces:
            pieces.append(piece[: MAX_TERM_LENGTH * 4])
    return " ".join('"' + piece.replace('"', '""') + '"' for piece in pieces[:MAX_TERMS])


def matching(engine: Engine, transcriptions: Table, query: str, language: str | None) -> Any:
    """A WHERE clause: the transcription's text holds every word of ``query``. No words: a
    clause nothing matches."""
    query = _CONTROL.sub(" ", query)  # PostgreSQL refuses a NUL in any text
    terms = search_terms(query)
    if not terms:
        return literal_column("1") == 0
    if engine.dialect.name == "postgresql":
        # PostgreSQL's own parser reads the text, as it read the transcripts: a decimal
        # number, an e-mail address or a host name stays one word on both sides
        return _postgres(transcriptions, query[:MAX_QUERY_CHARS], language)
    phrase = fts5_query(query)
    rowids = select(_fts.c.rowid).where(text("transcriptions_fts MATCH :phrase"))
    return transcriptions.c.id.in_(rowids.params(phrase=phrase))


def _postgres(transcriptions: Table, words: str, language: str | None) -> Any:
    wanted: Any = func.plainto_tsquery(literal_column("'simple'::regconfig"), words)
    config = PG_CONFIGS.get(language or "")
    if config is not None:
        stemmed = func.plainto_tsquery(literal_column(f"'{config}'::regconfig"), words)
        wanted = wanted.op("||")(stemmed)
    # the generated column is not in the models (migration 0005 makes it)
    return literal_column(f"{transcriptions.name}.search_vector").op("@@")(wanted)


__all__ = ["SEARCH_OBJECTS", "fts5_query", "matching", "search_terms"]
