"""The dashboard's incident list: filters, search and keyset pages (issue 11).

Search terms are separated by spaces (half- or full-width) and must all match. A term matches an
incident by its number (``#123`` only the number; a bare ``123`` also as text), by its registry
customer (number or company containing the term) or by its text: the subject, the first line and
the thread's message bodies, placeholders of system mail left out.

Japanese has no spaces between words, so text search is *substring* search: 印刷 finds
印刷できません, whatever the length of the term. A page is found in two steps
(:func:`_search_newest_first`): the newest :data:`WINDOW` incidents below the page's position are
tested row by row with ``LIKE`` (a common term fills the page there at once); only when they do
not is the rest asked through migration 0008's trigram index, which is fast for rare terms:

- SQLite: the FTS5 table ``incident_search`` (``trigram`` tokenizer). A term of 3 or more
  characters is a phrase query (a substring match); a 2-character one is the trigrams it starts,
  read from the vocabulary table (each indexed text ends with a newline, so every occurrence
  starts one); a single character is scanned with ``LIKE``.
- PostgreSQL: ``LIKE '%term%'`` (``ILIKE`` when the term has cased letters; a Japanese term gets
  the same answer from the byte-wise ``LIKE``, faster); ``pg_trgm`` GIN indexes serve terms of 3
  or more characters, shorter ones are a scan of the thread text.

Without the index (a database made by ``create_all``, a SQLite without FTS5) every term is
scanned with ``LIKE``: slower, same answers. Pages are keyset pages by number, newest first
(``before=ID`` older, ``after=ID`` newer): each page costs the same at any depth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    cast,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session

from intake.models import Customer, Incident, OutboxMail, TimedAction
from intake.searchindex import catch_up
from intake.staffcommands import CATEGORIES
from intake.states import UNSENT, IncidentFlag, IncidentState, OutboxKind
from intake.web.slalist import SLA_FILTERS, SORTS
from intake.web.textsearch import (
    MAX_ID,
    clean_terms,
    like_pattern,
    term_condition,
    terms_unlogged,
)

PAGE_SIZE = 50
DUE_SORTED = 200  # sorted by due time: the answers due soonest, one page
MAX_TERMS = 5
MAX_TERM_CHARS = 100
# A search first tests the newest WINDOW incidents row by row (a common term fills a page there).
WINDOW = 2000
STATES = tuple(IncidentState)
FLAGS = tuple(IncidentFlag)
LICENSE_KIND = OutboxKind.LICENSE_KEY  # a key mail still to go is the due filter of that name
DUES = ("auto_close", LICENSE_KIND)


@dataclass
class Filters:
    """The list's query string, checked: an unknown value is ignored, never an error; control
    characters are dropped from the search and the customer (a term of nothing else is none)."""

    profile: str | None = None
    state: str | None = None
    category: str | None = None
    customer: str | None = None
    flag: str | None = None
    due: str | None = None
    assignee: str | None = None  # mine | none (the desk: intake.web.staff_desk)
    sla: str | None = None  # overdue | today: the caller's condition (intake.web.slalist)
    sort: str | None = None  # "due": answers due soonest first, one page
    q: str = ""
    before: int | None = None
    after: int | None = None

    @classmethod
    def from_args(cls, args: Any, profiles: list[str]) -> Filters:
        def choice(name: str, known: tuple[str, ...] | list[str]) -> str | None:
            value = args.get(name) or None
            return value if value in known else None

        def number(name: str) -> int | None:
            value = args.get(name, "")
            if not (value.isascii() and value.isdigit()):
                return None
            return min(int(value), MAX_ID + 1)

        customer = clean_terms(args.get("customer") or "")[:64] or None
        return cls(
            profile=choice("profile", profiles),
            state=choice("state", STATES),
            category=choice("category", CATEGORIES),
            customer=customer,
            flag=choice("flag", FLAGS),
            due=choice("due", DUES),
            assignee=choice("assignee", ("mine", "none")),
            sla=choice("sla", SLA_FILTERS),
            sort=choice("sort", SORTS),
            q=clean_terms(args.get("q") or "")[:300],
            before=number("before"),
            after=number("after"),
        )

    def params(self, **changes: Any) -> dict[str, Any]:
        """The query string of this list with ``changes`` (pages keep the filters)."""
        values = {**asdict(self), "before": None, "after": None, **changes}
        return {k: v for k, v in values.items() if v not in (None, "")}

    def shown(self) -> dict[str, Any]:
        """Filters and page position, as audited (R26)."""
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class Row:
    id: int
    state: str
    profile: str
    category: str
    subject: str
    first_line: str
    flags: list[str]
    created_at: datetime
    urgent: bool
    customer_number: str | None
    company: str | None
    due_at: datetime | None = None
    assignee: str | None = None
    response_due: datetime | None = None


@dataclass
class Page:
    rows: list[Row] = field(default_factory=list)
    older: int | None = None  # ``before`` of the next (older) page
    newer: int | None = None  # ``after`` of the previous (newer) page


def terms_of(filters: Filters) -> list[str]:
    return [t[:MAX_TERM_CHARS] for t in clean_terms(filters.q).split()][:MAX_TERMS]


def conditions(session: Session, filters: Filters) -> list[ColumnElement[bool]]:
    """Every filter but the search terms (see :func:`term_condition`)."""
    from intake.mail.fields import normalize_customer_number

    where: list[ColumnElement[bool]] = []
    if filters.profile:
        where.append(Incident.profile == filters.profile)
    if filters.state:
        where.append(Incident.state == filters.state)
    if filters.category:
        where.append(Incident.category == filters.category)
    if filters.customer:
        number = normalize_customer_number(filters.customer) or filters.customer
        where.append(Incident.customer_id.in_(select(Customer.id).where(Customer.number == number)))
    if filters.flag:
        quoted = like_pattern(f'"{filters.flag}"')[1:-1]
        where.append(cast(Incident.flags, String).like(f"%{quoted}%", escape="\\"))
    if filters.due == "auto_close":
        where.append(
            Incident.id.in_(_pending_auto_close().with_only_columns(TimedAction.incident_id))
        )
    elif filters.due == LICENSE_KIND:
        where.append(Incident.id.in_(_pending_key_mail().with_only_columns(OutboxMail.incident_id)))
    return where


def _pending_auto_close() -> Any:
    return select(TimedAction.due_at).where(
        TimedAction.kind == "auto_close", TimedAction.state == "pending"
    )


def _pending_key_mail() -> Any:
    return select(OutboxMail.due_at).where(
        OutboxMail.kind == LICENSE_KIND, OutboxMail.state.in_(UNSENT)
    )


def _due_column(filters: Filters) -> Any:
    """With a timer filter, each row's next due time (a correlated look-up per shown row)."""
    if filters.due == "auto_close":
        inner = _pending_auto_close().where(TimedAction.incident_id == Incident.id)
        return inner.with_only_columns(func.min(TimedAction.due_at)).scalar_subquery()
    if filters.due == LICENSE_KIND:
        inner = _pending_key_mail().where(OutboxMail.incident_id == Incident.id)
        return inner.with_only_columns(func.min(OutboxMail.due_at)).scalar_subquery()
    return None


def list_incidents(
    session: Session, filters: Filters, restrict: ColumnElement[bool] | None = None
) -> Page:
    """One keyset page of the incidents matching ``filters``, newest first (a database error
    is a :class:`~intake.web.textsearch.SearchError` that quotes no term)."""
    with terms_unlogged():
        return _list_incidents(session, filters, restrict)


def _list_incidents(
    session: Session, filters: Filters, restrict: ColumnElement[bool] | None
) -> Page:
    if session.get_bind().dialect.name == "postgresql":
        # A search is planned with its pattern in view (a generic plan of a prepared statement
        # cannot see that a term is long enough for the trigram index).
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    due = _due_column(filters)
    columns: list[Any] = [
        Incident.id,
        Incident.state,
        Incident.profile,
        Incident.category,
        Incident.subject,
        Incident.first_line,
        Incident.flags,
        Incident.created_at,
        Incident.urgent,
        Customer.number,
        Customer.company,
        Incident.fields,
        Incident.assignee,
        Incident.response_due,
    ]
    if due is not None:
        columns.append(due.label("due_at"))
    where = conditions(session, filters)
    if restrict is not None:
        where.append(restrict)
    query = select(*columns).outerjoin(Customer, Customer.id == Incident.customer_id)
    terms = terms_of(filters)
    if terms:  # SQLite: what the processor noted for the index is indexed first
        catch_up(session.get_bind())
    if filters.sort == "due":  # soonest first: one page of DUE_SORTED rows, no keyset pages
        where += [Incident.response_due.is_not(None)]
        where += [term_condition(session, term) for term in terms]
        query = query.where(*where).order_by(Incident.response_due, Incident.id)
        found = list(session.execute(query.limit(DUE_SORTED)).all())
        return Page(rows=[_row(r, due is not None) for r in found])
    if filters.after is not None:
        where += [term_condition(session, term) for term in terms]
        query = query.where(Incident.id > filters.after, *where).order_by(Incident.id.asc())
        found = list(session.execute(query.limit(PAGE_SIZE + 1)).all())
    elif terms:
        found = _search_newest_first(session, query, where, terms, filters.before)
    else:
        if filters.before is not None:
            where.append(Incident.id < filters.before)
        query = query.where(*where).order_by(Incident.id.desc())
        found = list(session.execute(query.limit(PAGE_SIZE + 1)).all())
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    if filters.after is not None:
        found.reverse()
    rows = [_row(r, due is not None) for r in found]
    page = Page(rows=rows)
    if not rows:
        return page
    if filters.after is None:
        page.older = rows[-1].id if more else None
        page.newer = rows[0].id if filters.before is not None else None
    else:
        page.older = rows[-1].id
        page.newer = rows[0].id if more else None
    return page


def _search_newest_first(
    session: Session, query: Any, where: list[Any], terms: list[str], before: int | None
) -> list[Any]:
    """A search page in two steps. First the newest :data:`WINDOW` incidents (below ``before``)
    are tested row by row: a common term fills the page there at once, whatever its length.
    Only when they do not, the rest is searched through the index (or a scan for short terms
    on PostgreSQL), which is fast for rare terms. Same rows, in the same order, as one query."""
    top = before if before is not None else (session.scalar(select(func.max(Incident.id))) or 0) + 1
    low = top - WINDOW
    recent = query.where(
        *where,
        Incident.id < top,
        Incident.id > low,
        *[term_condition(session, term, window=(low, top)) for term in terms],
    )
    found = list(session.execute(recent.order_by(Incident.id.desc()).limit(PAGE_SIZE + 1)).all())
    if len(found) > PAGE_SIZE or low < 1:
        return found
    older = query.where(
        *where, Incident.id <= low, *[term_condition(session, term) for term in terms]
    )
    limit = PAGE_SIZE + 1 - len(found)
    return found + list(session.execute(older.order_by(Incident.id.desc()).limit(limit)).all())


def _row(r: Any, with_due: bool) -> Row:
    stated = r.fields or {}
    return Row(
        id=r.id,
        state=r.state,
        profile=r.profile,
        category=r.category,
        subject=r.subject,
        first_line=r.first_line,
        flags=list(r.flags or []),
        created_at=r.created_at,
        urgent=r.urgent,
        customer_number=r.number or stated.get("customer_number"),
        company=r.company or stated.get("company"),
        due_at=r.due_at if with_due else None,
        assignee=r.assignee,
        response_due=r.response_due,
    )
