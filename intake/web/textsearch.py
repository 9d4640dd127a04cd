"""Text search of incidents for the dashboard (R26: no search server, nothing logged).

A term matches an incident by its number, its registry customer, or its text — a *substring*
of the subject, the first line or a thread message (Japanese has no spaces). Through migration
0008's trigram index where the engine allows (SQLite FTS5 ``trigram``; PostgreSQL ``pg_trgm``),
else with ``LIKE``: same answers. :mod:`intake.web.search` builds pages from these conditions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Table,
    Text,
    exists,
    false,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, aliased

from intake.models import Customer, Incident, IncidentMessage

TRIGRAM = 3  # the shortest term a trigram index can answer
MAX_ID = 2**31 - 1
MAX_PHRASES = 2000  # trigrams a 2-character term may start (beyond: scanned with LIKE)

# Migration 0008's FTS5 table (SQLite), outside the models: declared here only to query it.
SEARCH_TABLE = Table(
    "incident_search", MetaData(), Column("body", Text), Column("incident_id", Integer)
)
_fts_ready: dict[str, bool] = {}
# Besides category Cc: the line and paragraph separators and the bidi marks and overrides.
INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


class SearchError(Exception):
    """A search failed in the database (its message names no term: :func:`terms_unlogged`)."""


def is_control(char: str) -> bool:
    """A control character (NUL, CR, LF, DEL …), a line separator or a bidi mark: no part of
    anything searched for (a NUL ends FTS5's query early and PostgreSQL refuses it)."""
    return char in INVISIBLE or unicodedata.category(char) == "Cc"


def clean_terms(value: str) -> str:
    """``value`` as search terms: control characters dropped (a tab or a line break still
    separates terms), whitespace runs as one space; a term that was only control characters is
    gone, and "" means no search."""
    words = ("".join(c for c in word if not is_control(c)) for word in value.split())
    return " ".join(word for word in words if word)


@contextmanager
def terms_unlogged() -> Iterator[None]:
    """R26: nothing of a search is logged. A database error while searching is raised again as
    a :class:`SearchError` naming its class and statement (placeholders only), without its
    parameters or the database's message, either of which may quote a term."""
    try:
        yield
    except StatementError as error:
        kind = type(error.orig or error).__name__
        raise SearchError(f"{kind} while searching incidents [SQL: {error.statement}]") from None


def fts_ready(session: Session) -> bool:
    """Whether migration 0008's FTS5 table exists here (SQLite only; looked up once)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    key = str(bind.url)
    if key not in _fts_ready:
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incident_search'")
        ).first()
        _fts_ready[key] = found is not None
    return _fts_ready[key]


def like_pattern(term: str) -> str:
    """``%term%`` for ``LIKE … ESCAPE '\\'``: the term's wildcards are plain text, its control
    characters dropped (:func:`is_control`)."""
    term = "".join(c for c in term if not is_control(c))
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _searchable() -> ColumnElement[bool]:
    """Thread messages worth searching: not the placeholder of a mail the system sent."""
    return or_(IncidentMessage.direction != "out", IncidentMessage.author.is_not(None))


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _in_index(query: str) -> ColumnElement[bool]:
    return Incident.id.in_(
        select(SEARCH_TABLE.c.incident_id).where(SEARCH_TABLE.c.body.match(query))
    )


def bigram_query(session: Session, term: str) -> str | None:
    """SQLite: a 2-character term as the trigrams it starts (every text is indexed with a
    newline after it, so each occurrence starts one), read from the index's vocabulary; "" when
    no text holds it, None when it cannot be asked this way."""
    if term.lower() != term.upper() and not term.isascii():
        return None  # the tokenizer's case folding beyond ASCII is not Python's
    folded = term.lower()
    rows = session.execute(
        text("SELECT term FROM incident_search_vocab WHERE term >= :low AND term < :high"),
        {"low": folded, "high": folded + "\U0010ffff"},
    ).all()
    if len(rows) > MAX_PHRASES:
        return None
    return " OR ".join(_phrase(trigram) for (trigram,) in rows)


def text_condition(
    term: str,
    dialect: str,
    fts: bool,
    bigrams: str | None = None,
    newer_than: int | None = None,
    below: int | None = None,
) -> ColumnElement[bool]:
    """Incidents whose subject, first line or thread contains ``term`` (a substring; nothing of
    it is logged, R26). ``bigrams``: :func:`bigram_query`'s answer for a 2-character term.
    ``newer_than``/``below``: only incidents between those numbers are asked about (the
    newest window), so every form looks at the window's rows alone."""
    pattern = like_pattern(term)
    postgres = dialect == "postgresql"
    caseless = term.lower() == term.upper()  # Japanese: LIKE, byte-wise, is ILIKE's answer

    def like(column: Any) -> ColumnElement[bool]:
        if postgres and not caseless:
            return column.ilike(pattern, escape="\\")
        return column.like(pattern, escape="\\")

    messages = select(IncidentMessage.incident_id).where(_searchable(), like(IncidentMessage.body))
    if newer_than is not None:
        if not postgres:  # row by row: SQLite never hashes a correlated EXISTS
            return or_(
                like(Incident.subject),
                like(Incident.first_line),
                exists().where(
                    IncidentMessage.incident_id == Incident.id,
                    _searchable(),
                    like(IncidentMessage.body),
                ),
            )
        window = messages.where(
            IncidentMessage.incident_id > newer_than, IncidentMessage.incident_id < below
        )
        return or_(like(Incident.subject), like(Incident.first_line), Incident.id.in_(window))
    if len(term) >= TRIGRAM and fts:
        return _in_index(_phrase(term))
    if bigrams is not None and fts:
        return _in_index(bigrams) if bigrams else false()
    own = aliased(Incident)
    return Incident.id.in_(
        union_all(select(own.id).where(or_(like(own.subject), like(own.first_line))), messages)
    )


def term_condition(
    session: Session, term: str, window: tuple[int, int] | None = None
) -> ColumnElement[bool]:
    """One search term: ``#N`` is the number alone; otherwise the number, the customer or the
    text."""
    dialect = session.get_bind().dialect.name
    fts = fts_ready(session)
    folded = unicodedata.normalize("NFKC", term)
    tagged = re.fullmatch(r"#(\d{1,12})", folded)
    if tagged:
        number = int(tagged.group(1))
        return Incident.id == number if number <= MAX_ID else Incident.id.is_(None)
    pattern = like_pattern(term)
    customers = select(Customer.id).where(
        or_(
            Customer.number == folded.upper(),
            Customer.number.ilike(pattern, escape="\\"),
            Customer.company.ilike(pattern, escape="\\"),
        )
    )
    wide = window is None and fts and len(term) == TRIGRAM - 1
    bigrams = bigram_query(session, term) if wide else None
    parts = [
        Incident.customer_id.in_(customers),
        text_condition(term, dialect, fts, bigrams, *(window or (None, None))),
    ]
    if folded.isdigit() and len(folded) <= 12 and int(folded) <= MAX_ID:
        parts.insert(0, Incident.id == int(folded))
    return or_(*parts)
