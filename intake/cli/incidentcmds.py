"""Staff commands: incidents list/show/new and the answers and desk commands under them
(README documents the JSON); held mail and reprocess are in ``intake.cli.heldcmds``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from intake.cli import answercmds, deskcmds
from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    echo,
    engine_from,
    parse_instant,
    print_json,
)
from scheduler.calendar import format_instant

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from intake.incidents import CreatedIncident
    from intake.models import Customer, Incident

# Handlers import what they use in their bodies: `uketsuke --help` builds this module's parsers
# without loading SQLAlchemy or the pipeline (start-up rule in intake.cli.common).


def register(commands: Any) -> None:
    incidents = commands.add_parser("incidents", help="list, show or enter incidents")
    actions = incidents.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="incidents, newest last")
    add_config_option(listing)
    listing.add_argument("--state", help="open | answered | closed")
    listing.add_argument("--assignee", metavar="EMAIL", help="a staff email, or none: unassigned")
    listing.add_argument("--overdue", action="store_true", help="an answer is due and late")
    listing.add_argument("--due-before", metavar="TIME", help="an answer is due by TIME")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="one incident with its thread")
    add_config_option(show)
    show.add_argument("number", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)
    new = actions.add_parser("new", help="enter an inquiry taken by phone (R7)")
    add_config_option(new)
    new.add_argument("--channel", choices=["phone"], default="phone")
    new.add_argument("--customer", required=True, metavar="NUMBER", help="customer number")
    new.add_argument("--text", required=True, help="what the customer asked")
    new.add_argument("--company", help="社名 as stated (default: the registry's)")
    new.add_argument("--name", help="氏名 as stated (default: the registered contact's)")
    new.add_argument("--domain", help="ドメイン名 as stated (default: the registered one)")
    new.add_argument("--profile", help="profile (default: the default profile)")
    new.add_argument("--json", action="store_true")
    new.set_defaults(handler=run_new)
    answercmds.add_parsers(actions, add_config_option)
    deskcmds.add_incident_parsers(actions, add_config_option)


def _sessions(args: argparse.Namespace):  # noqa: ANN202
    from intake import db

    return db.session_factory(engine_from(config_from(args)))


def incident_json(
    incident: Incident | CreatedIncident, customer_number: str | None
) -> dict[str, Any]:
    """The documented JSON of an incident (README): ``customer_number`` is the registry's, else
    the number as stated; ``fields`` the four fields as the customer stated them."""
    from intake.fieldnames import stated_fields
    from intake.targets import targets_json

    stated = incident.fields or {}
    return {
        "number": incident.id,
        "state": incident.state,
        "profile": incident.profile,
        "customer_number": customer_number or stated.get("customer_number"),
        "fields": stated_fields(stated),
        "fax_number": stated.get("fax_number"),
        "category": incident.category,
        "channel": incident.channel,
        "created_at": format_instant(incident.created_at),
        "subject": incident.subject,
        "first_line": incident.first_line,
        "flags": list(incident.flags),
        "urgent": incident.urgent,
        "linked_incident": incident.linked_incident_id,
        "assignee": getattr(incident, "assignee", None),  # the desk: a staff email or null
        **targets_json(incident, datetime.now(UTC)),  # response targets
    }


def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from intake.models import Customer, Incident

    with _sessions(args)() as session:
        query = select(Incident, Customer.number).outerjoin(Customer).order_by(Incident.id)
        if args.state:
            query = query.where(Incident.state == args.state)
        if args.assignee:
            wanted = args.assignee.strip().lower()
            query = query.where(
                Incident.assignee.is_(None) if wanted == "none" else Incident.assignee == wanted
            )
        if args.overdue:
            query = query.where(Incident.response_due < datetime.now(UTC))
        if args.due_before:
            query = query.where(Incident.response_due <= parse_instant(args.due_before))
        rows = [incident_json(i, n) for i, n in session.execute(query)]
    if args.json:
        for row in rows:
            print_json(row)
        return 0
    for row in rows:
        flags = f" [{', '.join(row['flags'])}]" if row["flags"] else ""
        flags += " (overdue)" if row["overdue"] else ""
        echo(
            f"#{row['number']} {row['state']:<8} {row['profile']:<9} "
            f"{row['customer_number'] or '-':<12} {row['category']:<12} {row['first_line']}{flags}"
        )
    return 0


def incident_detail(session: Session, number: int) -> dict[str, Any]:
    """``incidents show --json``: the incident with its customer and its thread (README)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from intake.identify import contact_addresses
    from intake.models import Incident

    incident = session.scalars(
        select(Incident).where(Incident.id == number).options(selectinload(Incident.messages))
    ).one_or_none()
    if incident is None:
        raise CliError(f"no incident #{number}")
    customer = incident.customer
    data = incident_json(incident, customer.number if customer else None)
    data["customer"] = (
        {
            "number": customer.number,
            "company": customer.company,
            "contacts": contact_addresses(customer),
        }
        if customer
        else None
    )
    data["reply_address"] = incident.reply_address
    data["thread"] = [
        {
            "direction": m.direction,
            "at": format_instant(m.created_at),
            "message_id": m.message_id,
            "author": m.author,
            "body": m.body,
        }
        for m in incident.messages
    ]
    return data


def run_show(args: argparse.Namespace) -> int:
    from intake.fieldnames import FIELD_LABELS

    with _sessions(args)() as session:
        data = incident_detail(session, args.number)
    if args.json:
        print_json(data)
        return 0
    echo(f"#{data['number']} {data['subject']}")
    for key in (
        "state",
        "profile",
        "customer_number",
        "category",
        "channel",
        "created_at",
        "flags",
        "reply_address",
        "assignee",
        "response_due",
        "overdue",
    ):
        echo(f"  {key}: {data[key]}")
    for name, label in FIELD_LABELS.items():
        echo(f"  {label}: {data['fields'][name] or '-'}")
    if data["fax_number"]:
        echo(f"  FAX: {data['fax_number']}")
    for message in data["thread"]:
        echo(f"--- {message['direction']} {message['at']} {message['author'] or ''}")
        echo(message["body"].rstrip(), multiline=True)
    return 0


def run_new(args: argparse.Namespace) -> int:
    """R7: an inquiry taken by phone enters through the same accept as mail (R2, R4, R25) and
    is acknowledged by email at the customer's registered contact (R10)."""
    from intake import db
    from intake.accept import accept
    from intake.fieldnames import FIELD_LABELS, FIELD_NAMES
    from intake.identify import find_customer
    from intake.mail.classify import categorize, is_urgent
    from intake.mail.fields import normalize_customer_number, normalize_text
    from intake.mail.split import split_inquiries
    from intake.outcomes import Held
    from intake.submission import Intake, Item

    config = config_from(args)
    profile = args.profile or config.default_profile
    config.profile(profile)
    now = datetime.now(UTC)
    text = normalize_text(args.text) if args.text.strip() else ""
    if not text:
        raise CliError("--text is empty: say what the customer asked")
    with db.session_factory(engine_from(config)).begin() as session:
        customer = find_customer(session, normalize_customer_number(args.customer))
        if customer is None:
            raise CliError(f"unknown customer number {args.customer!r}")
        intake = Intake(
            channel="phone",
            profile=profile,
            fields=_phone_fields(args, customer),
            items=[
                Item(t, categorize(t), is_urgent("", t)) for t in split_inquiries(text) or [text]
            ],
            subject=text.splitlines()[0][:80],
            received_at=now,
            sender=None,
            reply_to=[],  # R10: answered at the registered contact
        )
        try:
            created = accept(session, config, intake, now)
        except Held:
            missing = [n for n in FIELD_NAMES if not intake.fields.get(n)]
            options = ", ".join(f"{FIELD_LABELS[n]} (--{n})" for n in missing)
            raise CliError(f"not accepted (R1): give {options}") from None
        numbers = [i.id for i in created]
    with db.session_factory(engine_from(config))() as session:
        for number in numbers:
            if args.json:  # as incidents show --json prints it
                print_json(incident_detail(session, number))
            else:
                echo(f"incident #{number} created")
    return 0


def _phone_fields(args: argparse.Namespace, customer: Customer) -> dict[str, str | None]:
    """What the caller stated; the registry fills what staff did not type (the caller was
    identified by the customer number, R2)."""
    from intake.mail.fields import normalize_domain, normalize_text

    contact_names = [c.name for c in customer.contacts if c.name]
    domains = [d.domain for d in customer.domains]
    return {
        "company": normalize_text(args.company) if args.company else customer.company,
        "name": normalize_text(args.name) if args.name else (contact_names or [None])[0],
        "domain": normalize_domain(args.domain) if args.domain else (domains or [None])[0],
        "customer_number": customer.number,
    }
