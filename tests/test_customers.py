"""Customer registry import: documented columns, line/column errors, all or nothing (R2, R24)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from intake.customers import contracts_of
from intake.models import Customer, SupportContract
from scheduler.periods import SupportStatus, support_status

HEADER = (
    "customer_number,company,domains,contact_emails,profile,product,order_accepted,"
    "previous_period_end,added_license,incident_quota\n"
)


def write(tmp_path: Path, body: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "customers.csv"
    path.write_bytes((HEADER + body).encode(encoding))
    return path


def test_r24_import_creates_customers_with_support_periods(cli, tmp_path) -> None:
    cli.initialized()
    path = write(
        tmp_path,
        "c０１２３－４５６７,株式会社サンプル,example.co.jp; sample.jp,yamada@example.co.jp,"
        "desknet,desknet's NEO,2026-11-22,,2027-01-15,10\n"
        "C-9,有限会社テスト,test.example.jp,a@test.example.jp b@test.example.jp,helpdesk,,"
        "2027-02-10,2027-03-31,,\n",
    )
    result = cli("customers", "import", str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert "imported 2 customers" in result.stdout
    from intake import db

    engine = db.make_engine(cli.database_url)
    with db.session_factory(engine)() as session:
        first = session.scalars(select(Customer).where(Customer.number == "C0123-4567")).one()
        assert first.company == "株式会社サンプル"
        assert sorted(d.domain for d in first.domains) == ["example.co.jp", "sample.jp"]
        periods = sorted(contracts_of(first, "desknet"), key=lambda p: p.coverage_from)
        assert [(str(p.kind), p.coverage_from, p.end) for p in periods] == [
            ("re-continuation", date(2026, 11, 22), date(2027, 11, 30)),
            ("added-license", date(2027, 1, 15), date(2027, 11, 30)),
        ]
        assert support_status(periods, date(2027, 11, 30)) == SupportStatus.ACTIVE
        assert support_status(periods, date(2027, 12, 1)) == SupportStatus.LAPSED
        second = session.scalars(select(Customer).where(Customer.number == "C-9")).one()
        assert sorted(c.email for c in second.contacts) == [
            "a@test.example.jp",
            "b@test.example.jp",
        ]
        renewal = second.contracts[0]
        assert (renewal.kind, renewal.period_start) == ("renewal", date(2027, 4, 1))
    engine.dispose()


def test_reimport_is_idempotent_and_updates(cli, tmp_path) -> None:
    cli.initialized()
    path = write(tmp_path, "C-1,旧社名,a.jp,x@a.jp,,,2026-11-02,,,\n")
    assert cli("customers", "import", str(path)).returncode == 0
    path = write(tmp_path, "C-1,新社名,a.jp,x@a.jp,,,2026-11-02,,,\n")
    assert cli("customers", "import", str(path)).returncode == 0
    from intake import db

    engine = db.make_engine(cli.database_url)
    with db.session_factory(engine)() as session:
        assert session.scalar(select(Customer.company)) == "新社名"
        assert session.scalar(select(func.count()).select_from(SupportContract)) == 1
    engine.dispose()


def test_shift_jis_csv_from_excel_is_read(cli, tmp_path) -> None:
    cli.initialized()
    path = write(tmp_path, "C-2,株式会社髙橋①,b.jp,,,,,,,\n", encoding="cp932")
    result = cli("customers", "import", str(path))
    assert result.returncode == 0, result.stderr


def test_r30_bad_row_names_line_and_column_and_imports_nothing(cli, tmp_path) -> None:
    cli.initialized()
    path = write(
        tmp_path,
        "C-1,株式会社A,a.jp,x@a.jp,,,2026-11-02,,,\n"
        "C-2,株式会社B,b.jp,not-an-address,,,2026-11-02,,,\n",
    )
    result = cli("customers", "import", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "line 3, column contact_emails" in result.stderr
    assert "nothing imported" in result.stderr
    status = cli("status", "--json")
    assert status.returncode == 0
    from intake import db

    engine = db.make_engine(cli.database_url)
    with db.session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
    engine.dispose()


def test_r30_bad_dates_and_duplicates(cli, tmp_path) -> None:
    cli.initialized()
    cases = [
        ("C-1,A,a.jp,,,,2026/11/02,,,\n", "line 2, column order_accepted"),
        ("C-1,A,a.jp,,,,,,,\nC-1,B,b.jp,,,,,,,\n", "line 3, column customer_number"),
        ("C-1,A,a.jp,,nosuch,,,,,\n", "line 2, column profile"),
        (",A,a.jp,,,,,,,\n", "line 2, column customer_number"),
        ("C-1,A,a.jp,,,,2026-01-05,,2027-03-01,\n", "line 2, column added_license"),
    ]
    for body, expected in cases:
        result = cli("customers", "import", str(write(tmp_path, body)))
        assert result.returncode == 2, body
        assert expected in result.stderr, (body, result.stderr)
    missing = cli("customers", "import", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
