"""Monthly reports: consumption per customer and support period (R4), billable after-hours work
(R23), and their command line (`uketsuke report consumption|billing`, R30)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from intake import db
from intake.models import Customer, Incident, SupportContract
from scheduler.billing import amount_jpy, billed_minutes, hours_text, is_billable
from tests.conftest import Cli

BOM = b"\xef\xbb\xbf"
CONSUMPTION_HEADER = (
    b"customer_number,company,profile,period_start,period_end,quota,consumed_in_month,"
    b"consumed_in_period,remaining\r\n"
)
BILLING_HEADER = (
    b"customer_number,company,incident,created_at,category,cause,minutes_worked,billed_hours,"
    b"amount_jpy\r\n"
)
LAST_NOVEMBER_INSTANT = datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC)  # 23:59:59 in Tokyo
FIRST_DECEMBER_INSTANT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 00:00 on 12/1 in Tokyo
DECEMBER = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
JANUARY = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)


# --- pure: scheduler.billing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "cause", "flags", "billable"),
    [
        # HD 仕様書 5.3: the customer's convenience, by category
        ("general", None, ["after_hours"], True),
        ("setup", None, ["after_hours"], True),
        ("operation", None, ["after_hours", "domain_mismatch"], True),
        # ... not by itself: an incident without after-hours work bills nothing (5.1)
        ("setup", None, [], False),
        ("general", "customer", ["out_of_scope"], False),
        # the cause on the customer's side or outside our services, whatever the category
        ("fault", "customer", ["after_hours"], True),
        ("fault", "third-party", ["after_hours"], True),
        ("license", "customer", ["after_hours"], True),
        ("out_of_scope", "third-party", ["after_hours", "out_of_scope"], True),
        ("other", "customer", ["after_hours"], True),
        # our cause: never, the category notwithstanding (the customer's favour)
        ("general", "ours", ["after_hours"], False),
        ("setup", "ours", ["after_hours"], False),
        ("fault", "ours", ["after_hours"], False),
        # unknown cause and a category that does not decide it: not billable
        ("fault", None, ["after_hours"], False),
        ("license", None, ["after_hours"], False),
        ("out_of_scope", None, ["after_hours", "out_of_scope"], False),
        ("other", None, ["after_hours"], False),
        ("other", "unknown", ["after_hours"], False),
    ],
)
def test_r23_billable_by_category_cause_and_after_hours(
    category: str, cause: str | None, flags: list[str], billable: bool
) -> None:
    assert is_billable(category, cause, flags) is billable


@pytest.mark.parametrize(
    ("minutes", "unit", "billed", "amount", "hours"),
    [
        (0, 30, 0, 0, "0.0"),
        (1, 30, 30, 3000, "0.5"),
        (29, 30, 30, 3000, "0.5"),
        (30, 30, 30, 3000, "0.5"),
        (31, 30, 60, 6000, "1.0"),
        (60, 30, 60, 6000, "1.0"),
        (61, 30, 90, 9000, "1.5"),
        (600, 30, 600, 60000, "10.0"),
        (1, 15, 15, 3000, "0.25"),
        (21, 20, 40, 6000, "0.67"),
    ],
)
def test_r23_time_is_rounded_up_to_the_unit(
    minutes: int, unit: int, billed: int, amount: int, hours: str
) -> None:
    assert billed_minutes(minutes, unit) == billed
    assert amount_jpy(minutes, unit, 3000) == amount
    assert hours_text(billed) == hours


@pytest.mark.parametrize(("minutes", "unit"), [(-1, 30), (30, 0)])
def test_r23_negative_time_or_an_empty_unit_is_refused(minutes: int, unit: int) -> None:
    with pytest.raises(ValueError):
        billed_minutes(minutes, unit)


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def report_cli(cli: Cli) -> Cli:
    cli.migrated()
    return cli


@pytest.fixture
def database(report_cli: Cli, database_url: str) -> Iterator[sessionmaker[Session]]:
    """The migrated database of ``report_cli``, to fill directly."""
    engine = db.make_engine(database_url)
    yield db.session_factory(engine)
    engine.dispose()


def customer(session: Session, number: str, company: str) -> Customer:
    row = Customer(number=number, company=company)
    session.add(row)
    session.flush()
    return row


def contract(
    session: Session, owner: Customer, start: date, end: date, quota: int | None
) -> SupportContract:
    row = SupportContract(
        customer_id=owner.id,
        profile="helpdesk",
        kind="renewal",
        coverage_from=start,
        period_start=start,
        period_end=end,
        incident_quota=quota,
    )
    session.add(row)
    session.flush()
    return row


def incident(
    session: Session,
    created_at: datetime,
    owner: Customer | None = None,
    period: SupportContract | None = None,
    **values: Any,
) -> int:
    row = Incident(
        profile=values.pop("profile", "helpdesk"),
        channel="email",
        customer_id=owner.id if owner else None,
        contract_id=period.id if period else None,
        created_at=created_at,
        **values,
    )
    session.add(row)
    session.flush()
    return row.id


def report(cli: Cli, *args: str) -> bytes:
    """The command's stdout as bytes (the fixture decodes it, which would drop the BOM)."""
    result = cli("report", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.encode()


def test_r4_consumption_per_customer_and_period_in_tokyo_months(
    report_cli: Cli, database: sessionmaker[Session]
) -> None:
    with database.begin() as session:
        sample = customer(session, "C-0001", "株式会社サンプル")
        old = contract(session, sample, date(2025, 4, 1), date(2026, 3, 31), 10)
        current = contract(session, sample, date(2026, 4, 1), date(2027, 3, 31), 10)
        incident(session, datetime(2026, 3, 1, tzinfo=UTC), sample, old)
        incident(session, LAST_NOVEMBER_INSTANT, sample, current)  # November in Tokyo
        incident(session, FIRST_DECEMBER_INSTANT, sample, current)  # December in Tokyo
        incident(session, DECEMBER, sample, current)
        incident(session, JANUARY, sample, current)  # after the month: not counted yet
        tight = customer(session, "C-0002", '=HYPERLINK("x")')  # Excel must not run it
        full = contract(session, tight, date(2026, 1, 1), date(2026, 12, 31), 2)
        for day in (1, 2, 3):
            incident(session, datetime(2026, 12, day, 3, tzinfo=UTC), tight, full)
        open_ended = customer(session, "C-0003", "Open\tEnded\nKK")
        unlimited = contract(session, open_ended, date(2026, 1, 1), date(2026, 12, 31), None)
        incident(session, DECEMBER, open_ended, unlimited)
        lapsed = customer(session, "C-0004", "期限切れ株式会社")
        incident(session, DECEMBER, lapsed, profile="desknet", flags=["no_support_period"])
        incident(session, DECEMBER, fields={"company": "有限会社テスト", "customer_number": "X-9"})
        incident(session, DECEMBER, fields={})
        incident(session, datetime(2026, 12, 31, 14, 59, 59, tzinfo=UTC), sample, current)
        incident(session, datetime(2026, 12, 31, 15, 0, tzinfo=UTC), sample, current)  # 1/1

    assert report(report_cli, "consumption", "--month", "2026-12", "--csv") == (
        BOM
        + CONSUMPTION_HEADER
        + "C-0001,株式会社サンプル,helpdesk,2026-04-01,2027-03-31,10,3,4,6\r\n".encode()
        + b'C-0002,"\'=HYPERLINK(""x"")",helpdesk,2026-01-01,2026-12-31,2,3,3,-1\r\n'
        + b"C-0003,Open Ended KK,helpdesk,2026-01-01,2026-12-31,,1,1,\r\n"
        + "C-0004,期限切れ株式会社,desknet,,,,1,,\r\n".encode()
        + b",,helpdesk,,,,1,,\r\n"
        + ",有限会社テスト,helpdesk,,,,1,,\r\n".encode()
    )
    november = report(report_cli, "consumption", "--month", "2026-11", "--csv")
    assert november == (
        BOM
        + CONSUMPTION_HEADER
        + "C-0001,株式会社サンプル,helpdesk,2026-04-01,2027-03-31,10,1,1,9\r\n".encode()
    )
    january = report(report_cli, "consumption", "--month", "2027-01", "--csv")
    assert january.endswith(b"2027-03-31,10,2,6,4\r\n")


def test_r4_consumption_text_is_an_aligned_table(
    report_cli: Cli, database: sessionmaker[Session]
) -> None:
    with database.begin() as session:
        sample = customer(session, "C-0001", "株式会社サンプル")
        current = contract(session, sample, date(2026, 4, 1), date(2027, 3, 31), 10)
        incident(session, DECEMBER, sample, current)
        incident(session, DECEMBER, fields={"company": "ACME"})
    assert report(report_cli, "consumption", "--month", "2026-12").decode().splitlines() == [
        "customer_number  company           profile   period_start  period_end  quota"
        "  consumed_in_month  consumed_in_period  remaining",
        "C-0001           株式会社サンプル  helpdesk  2026-04-01    2027-03-31     10"
        "                  1                   1          9",
        "                 ACME              helpdesk" + " " * 51 + "1",
    ]


def test_r4_an_empty_month_says_so(report_cli: Cli) -> None:
    assert report(report_cli, "consumption", "--month", "2026-12") == (
        b"no incidents accepted in 2026-12 (Asia/Tokyo)\n"
    )
    assert report(report_cli, "consumption", "--month", "2026-12", "--csv") == (
        BOM + CONSUMPTION_HEADER
    )


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def billing_data(session: Session) -> dict[str, int]:
    sample = customer(session, "C-0001", "株式会社サンプル")
    other = customer(session, "C-0002", "ベータ株式会社")
    after = ["after_hours"]
    return {
        "setup_31": incident(
            session, DECEMBER, sample, category="setup", flags=after, minutes_worked=31
        ),
        "customer_cause": incident(
            session,
            FIRST_DECEMBER_INSTANT,  # 2026-12-01T00:00+09:00: December
            sample,
            category="fault",
            cause="customer",
            flags=after,
            minutes_worked=90,
        ),
        "not_after_hours": incident(
            session, DECEMBER, sample, category="setup", flags=[], minutes_worked=60
        ),
        "ours": incident(
            session,
            DECEMBER,
            sample,
            category="general",
            cause="ours",
            flags=after,
            minutes_worked=60,
        ),
        "fault_no_cause": incident(
            session, DECEMBER, sample, category="fault", flags=after, minutes_worked=60
        ),
        "november": incident(
            session,
            LAST_NOVEMBER_INSTANT,
            sample,
            category="setup",
            flags=after,
            minutes_worked=30,
        ),
        "other_customer": incident(
            session, JANUARY, other, category="operation", flags=after, minutes_worked=1
        ),
        "beta_third_party": incident(
            session,
            datetime(2026, 12, 20, 12, 0, tzinfo=UTC),
            other,
            category="other",
            cause="third-party",
            flags=[*after, "domain_mismatch"],
            minutes_worked=45,
        ),
        "unregistered": incident(
            session,
            DECEMBER,
            category="operation",
            flags=after,
            fields={"company": "有限会社テスト"},
        ),
    }


def test_r23_billing_csv_lists_billable_incidents_rounded_up(
    report_cli: Cli, database: sessionmaker[Session]
) -> None:
    with database.begin() as session:
        n = billing_data(session)
    assert report(report_cli, "billing", "--month", "2026-12", "--csv") == (
        BOM
        + BILLING_HEADER
        + (
            f"C-0001,株式会社サンプル,{n['customer_cause']},2026-12-01T00:00:00+09:00,fault,"
            "customer,90,1.5,9000\r\n"
            f"C-0001,株式会社サンプル,{n['setup_31']},2026-12-10T12:00:00+09:00,setup,,31,1.0,"
            "6000\r\n"
            f"C-0002,ベータ株式会社,{n['beta_third_party']},2026-12-20T21:00:00+09:00,other,"
            "third-party,45,1.0,6000\r\n"
            f",有限会社テスト,{n['unregistered']},2026-12-10T12:00:00+09:00,operation,,0,0.0,0"
            "\r\n"
        ).encode()
    )
    november = report(report_cli, "billing", "--month", "2026-11", "--csv").decode("utf-8-sig")
    assert november.splitlines()[1:] == [
        f"C-0001,株式会社サンプル,{n['november']},2026-11-30T23:59:59+09:00,setup,,30,0.5,3000"
    ]


def test_r23_billing_text_has_a_total_per_customer(
    report_cli: Cli, database: sessionmaker[Session]
) -> None:
    with database.begin() as session:
        n = billing_data(session)
    lines = report(report_cli, "billing", "--month", "2026-12").decode().splitlines()
    assert [line.split() for line in lines] == [
        [
            "customer_number", "company", "incident", "created_at", "category", "cause",
            "minutes_worked", "billed_hours", "amount_jpy",
        ],
        ["C-0001", "株式会社サンプル", str(n["customer_cause"]), "2026-12-01T00:00:00+09:00",
         "fault", "customer", "90", "1.5", "9,000"],
        ["C-0001", "株式会社サンプル", str(n["setup_31"]), "2026-12-10T12:00:00+09:00", "setup",
         "31", "1.0", "6,000"],
        ["C-0001", "株式会社サンプル", "total", "121", "2.5", "15,000"],
        ["C-0002", "ベータ株式会社", str(n["beta_third_party"]), "2026-12-20T21:00:00+09:00",
         "other", "third-party", "45", "1.0", "6,000"],
        ["C-0002", "ベータ株式会社", "total", "45", "1.0", "6,000"],
        ["有限会社テスト", str(n["unregistered"]), "2026-12-10T12:00:00+09:00", "operation",
         "0", "0.0", "0"],
        ["有限会社テスト", "total", "0", "0.0", "0"],
    ]  # fmt: skip
    # aligned as a terminal shows it: a full-width character takes two columns
    starts = {width(line[: line.index("2026-12")]) for line in lines if "2026-12" in line}
    assert starts == {len("customer_number  ") + width("株式会社サンプル  ") + len("incident  ")}


def test_r23_rate_and_unit_come_from_the_profile(
    report_cli: Cli, database: sessionmaker[Session], tmp_path: Path
) -> None:
    with database.begin() as session:
        owner = customer(session, "C-0001", "株式会社サンプル")
        number = incident(
            session, DECEMBER, owner, category="setup", flags=["after_hours"], minutes_worked=16
        )
    config = tmp_path / "uketsuke.toml"
    config.write_text(
        "[profiles.helpdesk]\nbilling_unit_minutes = 15\nafter_hours_rate_jpy = 1000\n",
        encoding="utf-8",
    )
    csv = report(report_cli, "billing", "--month", "2026-12", "--csv", "--config", str(config))
    assert csv.decode("utf-8-sig").splitlines()[1] == (
        f"C-0001,株式会社サンプル,{number},2026-12-10T12:00:00+09:00,setup,,16,0.5,2000"
    )


def test_r23_a_month_without_billable_work_says_so(
    report_cli: Cli, database: sessionmaker[Session]
) -> None:
    with database.begin() as session:
        incident(session, DECEMBER, category="setup", minutes_worked=60)  # not after hours
    assert report(report_cli, "billing", "--month", "2026-12") == (
        b"no billable after-hours work in 2026-12 (Asia/Tokyo)\n"
    )
    assert report(report_cli, "billing", "--month", "2026-12", "--csv") == BOM + BILLING_HEADER


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "0000-01", "December", ""])
@pytest.mark.parametrize("kind", ["consumption", "billing"])
def test_r30_a_bad_month_is_one_line(report_cli: Cli, kind: str, month: str) -> None:
    result = report_cli("report", kind, "--month", month)
    assert result.returncode == 2
    assert result.stderr == f"uketsuke: {month!r} is not a month (YYYY-MM, e.g. 2026-12)\n"
    assert result.stdout == ""


@pytest.mark.parametrize("kind", ["consumption", "billing"])
def test_r30_reports_never_create_a_database(cli: Cli, kind: str) -> None:
    result = cli("report", kind, "--month", "2026-12")
    assert result.returncode == 2
    assert result.stderr.startswith("uketsuke: ")
    assert result.stderr.count("\n") == 1
    assert "run `uketsuke migrate`" in result.stderr
    assert not (cli.home / "uketsuke.db").exists()
