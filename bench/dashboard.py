"""Benchmark: the staff dashboard's list, filters and text search at 100,000 incidents (issue 11).

    .venv/bin/python bench/dashboard.py [--n 100000] [--db sqlite|postgres|both] [--pg-url URL]

For each database, a fresh one is made by the migrations (with 0008's trigram search index:
SQLite FTS5 ``trigram``, PostgreSQL ``pg_trgm`` GIN) and filled with N incidents by bulk Core
inserts: 1,000 registry customers; each incident with its customer's message (realistic Japanese
support text, 80-300 characters) and, for half of them, a staff answer; 80 % closed, 10 %
answered, 10 % open; created over two years. The search index is kept in step during the fill
(SQLite triggers, PostgreSQL index maintenance), as in production. PostgreSQL is ANALYZEd after
the fill (what autovacuum does in steady state); SQLite is not (the daemon never runs ANALYZE).

Then, through Flask's test client, logged in as a staff member, each page is fetched once to
warm up and five times timed; the figure is the median. Every page view also writes its audit row
(R26), so the figures include that commit. Measured:

* the first page ``/staff/``; a filtered page (state + category); text searches for a 2- and a
  4-character term that are common (about 10 % of incidents) and rare (about 0.1 %); a page deep
  in the keyset (``before=500``);
* the same list queries alone (``search.list_incidents`` in a read session, no rendering, no
  audit);
* baselines in the same run: ``SELECT id FROM incidents ORDER BY id DESC LIMIT 50`` through the
  app's own read sessions, and ``GET /healthz`` through the same test client (the framework's
  floor).

``--pg-url`` names the PostgreSQL server; the run uses a schema of its own there and drops it.
Results: bench/dashboard.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from intake import db  # noqa: E402
from intake.config import load_config  # noqa: E402
from intake.models import (  # noqa: E402
    Customer,
    Incident,
    IncidentMessage,
    StaffUser,
    SupportContract,
)

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
STAFF = "bench@example.jp"
PASSWORD = "bench password 123"
REPEAT = 5
BATCH = 5000
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

# (category, subject, body sentences); {p} a product, {c} an error code, {d} a date.
TOPICS = [
    (
        "fault",
        "印刷ができません",
        "{p}から印刷しようとすると、エラー{c}が表示されて印刷できません。",
    ),
    (
        "fault",
        "管理画面にログインできません",
        "{d}から管理画面にログインしようとすると「パスワードが違います」と表示され、ログインできなくなりました。",
    ),
    (
        "fault",
        "メールが送信できません",
        "{p}からメールを送信すると送信エラー{c}になります。受信は問題ありません。",
    ),
    (
        "fault",
        "動作が遅くなりました",
        "{d}頃から{p}の画面表示が非常に遅く、一覧の表示に一分ほどかかります。",
    ),
    (
        "fault",
        "バックアップが失敗します",
        "夜間のバックアップが毎回失敗しています。ログにはエラー{c}と記録されています。",
    ),
    (
        "operation",
        "スケジュールの登録方法",
        "{p}のスケジュールで、毎週の繰り返し予定を登録する方法を教えてください。",
    ),
    (
        "operation",
        "CSV出力について",
        "ユーザー一覧をCSVで出力したいのですが、文字化けしてしまいます。出力方法を教えてください。",
    ),
    (
        "setup",
        "サーバー移行の手順",
        "新しいサーバーへ{p}を移行したいと考えています。移行の手順と注意点を教えていただけますでしょうか。",
    ),
    (
        "license",
        "ライセンスキー再発行のお願い",
        "サーバーの入れ替えに伴い、{p}のライセンスキーの再発行をお願いいたします。",
    ),
    (
        "general",
        "契約内容の確認",
        "現在の契約期間と、更新の手続きについて確認させてください。請求書の送付先も変更したいです。",
    ),
    (
        "operation",
        "印刷レイアウトの変更",
        "帳票の印刷レイアウトを変更したいのですが、余白の設定画面が見つかりません。",
    ),
    (
        "fault",
        "ログイン後に画面が真っ白になります",
        "ログイン後、トップページが真っ白のまま表示されません。ブラウザのキャッシュは削除しました。",
    ),
]
RARE = [
    (
        "operation",
        "稟議の承認経路",
        "稟議の承認経路を部署ごとに分けて設定する方法を教えてください。",
    ),
    (
        "general",
        "監査ログの保存期間",
        "監査ログの保存期間と、過去分を取り出す方法について確認させてください。",
    ),
]
PRODUCTS = ["desknet's NEO", "Outlook", "Windows 11", "Microsoft Edge", "Google Chrome", "iPhone"]
GREETINGS = [
    "いつもお世話になっております。",
    "お世話になっております。",
    "初めてご連絡いたします。",
]
DETAILS = [
    "利用環境: Windows 11 / Microsoft Edge 最新版",
    "社内の複数の端末で同じ現象が起きています。",
    "再起動しても改善しませんでした。",
    "急ぎではありませんが、ご確認をお願いいたします。",
    "スクリーンショットを添付いたします。",
]
ANSWERS = [
    "お問い合わせありがとうございます。設定画面の「詳細」から該当項目をご確認いただけますでしょうか。",
    "ご不便をおかけしております。お手数ですが、最新版へ更新のうえ再度お試しください。",
    "ご連絡ありがとうございます。手順書を添付いたしますので、ご確認ください。",
]
SURNAMES = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤"]
COMPANIES = ["サンプル商事", "みなと物流", "青空建設", "さくら電機", "ひかり食品", "北斗システム"]


@dataclass
class Case:
    name: str
    url: str
    query: dict[str, str]


CASES = [
    Case("first page", "/staff/", {}),
    Case(
        "filter: state + category",
        "/staff/?state=open&category=fault",
        {"state": "open", "category": "fault"},
    ),
    Case("search, 2 chars, common (印刷)", "/staff/?q=印刷", {"q": "印刷"}),
    Case("search, 4 chars, common (ログイン)", "/staff/?q=ログイン", {"q": "ログイン"}),
    Case("search, 2 chars, rare (稟議)", "/staff/?q=稟議", {"q": "稟議"}),
    Case("search, 4 chars, rare (監査ログ)", "/staff/?q=監査ログ", {"q": "監査ログ"}),
    Case("keyset page deep (before=500)", "/staff/?before=500", {"before": "500"}),
]


def body_text(
    rng: random.Random, topic: tuple[str, str, str], company: str, name: str
) -> tuple[str, str]:
    """A customer's mail text, and its first meaningful line."""
    sentence = topic[2].format(
        p=rng.choice(PRODUCTS),
        c=f"E{rng.randint(100, 999)}",
        d=f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
    )
    lines = [f"{company}\n{name}様", rng.choice(GREETINGS), sentence]
    lines += rng.sample(DETAILS, rng.randint(0, 2))
    lines.append("よろしくお願いいたします。")
    return "\n".join(lines), sentence


def fill(sessions: sessionmaker[Session], n: int, seed: int = 11) -> dict[str, int]:
    """N incidents, their threads and 1,000 customers, by bulk Core inserts."""
    rng = random.Random(seed)
    counts = {"印刷": 0, "ログイン": 0, "稟議": 0, "監査ログ": 0, "messages": 0}
    with sessions.begin() as session:
        connection = session.connection()
        customers = [
            {
                "id": i,
                "number": f"C{i:05d}",
                "company": f"株式会社{rng.choice(COMPANIES)}{i}",
                "created_at": NOW,
            }
            for i in range(1, 1001)
        ]
        connection.execute(insert(Customer.__table__), customers)
        connection.execute(
            insert(SupportContract.__table__),
            [
                {
                    "id": i,
                    "customer_id": i,
                    "profile": "helpdesk",
                    "product": "",
                    "kind": "annual",
                    "order_accepted": date(2025, 1, 10),
                    "coverage_from": date(2025, 2, 1),
                    "period_start": date(2025, 2, 1),
                    "period_end": date(2027, 1, 31),
                    "incident_quota": None,
                }
                for i in range(1, 1001)
            ],
        )
        session.add(
            StaffUser(
                email=STAFF,
                name="ベンチ",
                reply_secret=secrets.token_hex(32),
                profiles=[],
                password_hash=generate_password_hash(PASSWORD, method="scrypt"),
            )
        )
    start = NOW - timedelta(days=730)
    step = timedelta(days=730) / n
    message_id = 0
    for first in range(1, n + 1, BATCH):
        incidents, messages = [], []
        for number in range(first, min(first + BATCH, n + 1)):
            rare = rng.random() < 0.002
            topic = rng.choice(RARE) if rare else rng.choice(TOPICS)
            customer = rng.randint(1, 1000)
            name = f"{rng.choice(SURNAMES)} {rng.choice(['太郎', '花子', '一郎', '恵子'])}"
            body, sentence = body_text(rng, topic, customers[customer - 1]["company"], name)
            for term in ("印刷", "ログイン", "稟議", "監査ログ"):
                counts[term] += term in body or term in topic[1]
            at = start + step * number
            roll = rng.random()
            state = "closed" if roll < 0.8 else ("answered" if roll < 0.9 else "open")
            incidents.append(
                {
                    "id": number,
                    "profile": "helpdesk",
                    "customer_id": customer,
                    "contract_id": customer,
                    "channel": "smtp",
                    "category": topic[0],
                    "state": state,
                    "subject": topic[1],
                    "first_line": sentence[:60],
                    "reply_address": f"user{customer}@example.co.jp",
                    "flags": ["after_hours"] if rng.random() < 0.02 else [],
                    "fields": {"company": customers[customer - 1]["company"], "name": name},
                    "urgent": False,
                    "created_at": at,
                    "updated_at": at,
                    "last_customer_message_at": at,
                    "minutes_worked": 0,
                }
            )
            message_id += 1
            messages.append(
                {
                    "id": message_id,
                    "incident_id": number,
                    "direction": "in",
                    "author": f"user{customer}@example.co.jp",
                    "body": body,
                    "created_at": at,
                }
            )
            if state != "open" or rng.random() < 0.5:
                message_id += 1
                messages.append(
                    {
                        "id": message_id,
                        "incident_id": number,
                        "direction": "out",
                        "author": STAFF,
                        "body": rng.choice(ANSWERS) + "\n\nサポート 佐藤",
                        "created_at": at + timedelta(hours=2),
                    }
                )
        with sessions.begin() as session:
            connection = session.connection()
            connection.execute(insert(Incident.__table__), incidents)
            connection.execute(insert(IncidentMessage.__table__), messages)
    counts["messages"] = message_id
    return counts


def median_ms(run: Callable[[], object], repeat: int = REPEAT) -> float:
    run()  # warm-up: caches, statement compilation
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


@contextmanager
def database(kind: str, pg_url: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'uketsuke.db'}"
        return
    schema = f"bench_dash_{secrets.token_hex(4)}"
    admin = create_engine(pg_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def run(kind: str, n: int, pg_url: str) -> list[str]:
    from intake.web import create_app
    from intake.web.search import Filters, list_incidents

    lines: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="uketsuke-dash-") as folder,
        database(kind, pg_url, Path(folder)) as url,
    ):
        work = Path(folder)
        engine = db.make_engine(url)
        db.upgrade(engine)
        sessions = db.session_factory(engine)
        began = time.perf_counter()
        counts = fill(sessions, n)
        filled = time.perf_counter() - began
        if kind == "postgresql":
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        size = _size(kind, engine, work)
        config = load_config(
            None, env={"UKETSUKE_HOME": str(work / "home"), "UKETSUKE_DATABASE_URL": url}
        )
        app = create_app(config, sessions)
        client = app.test_client()
        csrf = TOKEN.search(client.get("/staff/login").text).group(1)
        answer = client.post(
            "/staff/login", data={"csrf_token": csrf, "email": STAFF, "password": PASSWORD}
        )
        assert answer.status_code == 303, answer.status_code
        reads = db.read_sessions(sessions)

        def baseline() -> None:
            with reads() as session:
                session.execute(text("SELECT id FROM incidents ORDER BY id DESC LIMIT 50")).all()

        base = median_ms(baseline)
        health = median_ms(lambda: client.get("/healthz"))
        lines.append(
            f"\n### {kind}: {n:,} incidents, {counts['messages']:,} thread messages "
            f"(filled in {filled:.0f} s; {size})\n"
        )
        terms = ", ".join(f"{t} {counts[t]:,}" for t in ("印刷", "ログイン", "稟議", "監査ログ"))
        lines.append(f"Term frequencies (incidents): {terms}.\n")
        lines.append(
            f"Baselines: SQL `SELECT id … LIMIT 50` {base:.2f} ms; "
            f"`GET /healthz` {health:.2f} ms.\n"
        )
        lines.append(
            "| page | rows | page ms (median of 5) | × SQL baseline | × /healthz "
            "| query alone ms | goal < 200 ms |"
        )
        lines.append("|---|---|---|---|---|---|---|")
        for case in CASES:
            page = client.get(case.url)
            assert page.status_code == 200, (case.url, page.status_code)
            rows = len(re.findall(r'href="/staff/incidents/\d+">#', page.text))
            ms = median_ms(lambda case=case: client.get(case.url))
            filters = Filters.from_args(case.query, ["helpdesk", "desknet"])

            def query(filters: Filters = filters) -> None:
                with reads() as session:
                    list_incidents(session, filters)

            alone = median_ms(query)
            verdict = "met" if ms < 200 else "**missed**"
            lines.append(
                f"| {case.name} | {rows} | {ms:.1f} | {ms / base:.0f}× | "
                f"{ms / health:.1f}× | {alone:.1f} | {verdict} |"
            )
        lines.append("")
        lines += _plans(kind, reads)
        engine.dispose()
    return lines


def _size(kind: str, engine: object, work: Path) -> str:
    if kind == "sqlite":
        total = sum(p.stat().st_size for p in work.glob("uketsuke.db*"))
        return f"database {total / 2**20:.0f} MB with its WAL"
    with engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.exec_driver_sql(
            "SELECT relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND "
            "relname IN ('incidents', 'incident_messages', 'ix_incidents_subject_trgm', "
            "'ix_incidents_first_line_trgm', 'ix_incident_messages_body_trgm')"
        ).all()
    return ", ".join(f"{name} {size / 2**20:.0f} MB" for name, size in sorted(rows))


def _plans(kind: str, reads: sessionmaker[Session]) -> list[str]:
    """The plans of the two common searches past the newest window (the index step), for the
    record."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.sql import select

    from intake.web.textsearch import term_condition

    out = ["<details><summary>query plans</summary>\n", "```"]
    for term in ("印刷", "ログイン"):
        with reads() as session:
            query = (
                select(Incident.id)
                .where(term_condition(session, term))
                .order_by(Incident.id.desc())
                .limit(51)
            )
            dialect = postgresql.dialect() if kind == "postgresql" else sqlite.dialect()
            sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            explain = "EXPLAIN QUERY PLAN " if kind == "sqlite" else "EXPLAIN "
            plan = session.execute(text(explain + sql)).all()
        out.append(f"-- q={term}")
        out += [" ".join(str(c) for c in row) for row in plan]
    out += ["```", "</details>"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get("UKETSUKE_BENCH_PG_URL", PG_URL))
    args = parser.parse_args()
    kinds = (
        ["sqlite", "postgresql"]
        if args.db == "both"
        else ["postgresql" if args.db == "postgres" else "sqlite"]
    )
    print(
        f"# dashboard bench, N = {args.n:,}, nproc {os.cpu_count()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    for kind in kinds:
        for line in run(kind, args.n, args.pg_url):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
