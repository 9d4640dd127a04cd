"""``uketsuke parse``: what intake reads from a message (R1, R3, R5, R6, R19, R27, R28)."""

from __future__ import annotations

import base64
import contextlib
import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.mail.parse import NotAMessage, ParseContext, parse_message, ticket_ref
from tests.conftest import REQUIRE_PEERS, SHARED, missing_peer
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.parsefuzz_messages import SEEDS
from tests.work import HANG_LIMIT, hang_detector, python_calls

CORPUS = SHARED / "corpus"
JSON_KEYS = {
    "message_id",
    "in_reply_to",
    "references",
    "date",
    "from",
    "to",
    "subject",
    "kind",
    "ticket_ref",
    "bounce_of",
    "fields",
    "missing",
    "inquiries",
    "language",
    "attachments",
    "body",
    "quoted_from_line",
    "signature_from_line",
    "auto_reason",
    "defects",
}


def corpus_rows() -> list[dict[str, str]]:
    """The corpus index; skips the test (fails it under UKETSUKE_REQUIRE_PEERS=1) without it."""
    index = CORPUS / "INDEX.tsv"
    if not index.is_file():
        missing_peer(f"corpus not found at {CORPUS}")
    with index.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


# -- the command as a user runs it -------------------------------------------------------------


def test_r1_parse_command_prints_the_documented_json(cli, tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(
        make_mail(
            FIELDS_BLOCK + "\nライセンスキーの再発行をお願いします。\n",
            subject="【至急】ライセンスキー再発行",
            charset="iso-2022-jp",
        )
    )
    result = cli("parse", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert set(data) == JSON_KEYS
    assert data["kind"] == "inquiry"
    assert data["subject"] == "【至急】ライセンスキー再発行"
    assert data["from"] == {"name": None, "address": "yamada@example.co.jp"}
    assert data["to"] == ["support@example.jp"]
    assert data["date"] == "2026-11-24T10:30:00+09:00"
    assert data["fields"] == {
        "company": "株式会社サンプル商事",
        "name": "山田 太郎",
        "domain": "example.co.jp",
        "customer_number": "C0123-4567",
    }
    assert data["missing"] == []
    assert data["language"] == "ja"
    [inquiry] = data["inquiries"]
    assert (inquiry["category"], inquiry["urgent"]) == ("license", True)


def test_r30_parse_stdin_and_bad_input(cli, tmp_path: Path) -> None:
    ok = cli("parse", "-", input=make_mail("質問です。\n"))
    assert ok.returncode == 0 and json.loads(ok.stdout)["missing"] == [
        "company",
        "name",
        "domain",
        "customer_number",
    ]
    missing = cli("parse", str(tmp_path / "none.eml"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    garbage = cli("parse", str(png))
    assert garbage.returncode == 2 and "not a mail" in garbage.stderr
    assert "Traceback" not in garbage.stderr


def test_r19_custom_tag_prefix_from_config(cli, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[profiles.helpdesk]\ntag_prefix = "uketsuke #"\n', encoding="utf-8")
    path = tmp_path / "m.eml"
    path.write_bytes(make_mail("追記\n", subject="Re: [uketsuke #123] 質問"))
    data = json.loads(cli("parse", str(path), "--config", str(config)).stdout)
    assert (data["ticket_ref"], data["kind"]) == (123, "reply")


# -- kinds and tags ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[#123] お問い合わせ", 123),
        ("Re: [#123] お問い合わせ", 123),
        ("RE: Re: Fwd: [#45] x", 45),
        ("転送: 返信: [#7] x", 7),
        ("Re: ［＃１２］ 全角", 12),
        ("お問い合わせ #123", None),
        ("[#abc]", None),
    ],
)
def test_r19_ticket_ref_in_subject(subject: str, expected: int | None) -> None:
    assert ticket_ref(subject, "#") == expected


@pytest.mark.parametrize(
    ("headers", "sender", "kind"),
    [
        ({}, "yamada@example.co.jp", "inquiry"),
        ({"In-Reply-To": "<a@b>"}, "yamada@example.co.jp", "reply"),
        ({"References": "<a@b> <c@d>"}, "yamada@example.co.jp", "reply"),
        ({"Auto-Submitted": "auto-replied"}, "yamada@example.co.jp", "auto_reply"),
        ({"Auto-Submitted": "no"}, "yamada@example.co.jp", "inquiry"),
        ({"Precedence": "junk"}, "yamada@example.co.jp", "auto_reply"),
        ({"Precedence": "list"}, "yamada@example.co.jp", "auto_reply"),
        ({"List-Id": "<ml.example.jp>"}, "yamada@example.co.jp", "auto_reply"),
        ({"X-Auto-Response-Suppress": "OOF"}, "yamada@example.co.jp", "auto_reply"),
        ({}, "no-reply@service.example.jp", "auto_reply"),
        ({}, "postmaster@example.co.jp", "auto_reply"),
        ({"X-Uketsuke-Loop": "helpdesk"}, "support@example.jp", "auto_reply"),
        ({}, "staff@example.jp", "staff_reply"),
        ({}, "fax@gw.example.jp", "fax"),
    ],
)
def test_r27_kind_of_message(headers: dict[str, str], sender: str, kind: str) -> None:
    context = ParseContext(
        staff_addresses=frozenset({"staff@example.jp"}),
        fax_senders=frozenset({"fax@gw.example.jp"}),
    )
    parsed = parse_message(make_mail("本文\n", sender=sender, headers=headers), context)
    assert parsed.kind == kind


def test_r27_out_of_office_subject_is_auto_reply() -> None:
    parsed = parse_message(make_mail("不在です\n", subject="自動応答: 不在のお知らせ"))
    assert parsed.kind == "auto_reply"


def test_r27_dsn_bounce_reports_the_original_message_id() -> None:
    dsn = (
        b"From: MAILER-DAEMON@mx.example.jp\r\nTo: support@example.jp\r\nSubject: failure\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        b'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <ours.1@example.jp>\r\n"
        b"Subject: x\r\n\r\nbody\r\n--b--\r\n"
    )
    parsed = parse_message(dsn)
    assert (parsed.kind, parsed.bounce_of) == ("bounce", "<ours.1@example.jp>")


def test_r27_non_dsn_bounce_from_mailer_daemon() -> None:
    body = "This is the mail system.\n\n------ original\nMessage-ID: <ours.2@example.jp>\n"
    parsed = parse_message(
        make_mail(
            body,
            subject="Undelivered Mail Returned to Sender",
            sender="MAILER-DAEMON@mx.example.jp",
        )
    )
    assert (parsed.kind, parsed.bounce_of) == ("bounce", "<ours.2@example.jp>")


# -- charsets, attachments, HTML ---------------------------------------------------------------


@pytest.mark.parametrize("charset", ["iso-2022-jp", "shift_jis", "utf-8", "euc-jp"])
def test_r28_body_in_every_japanese_charset(charset: str) -> None:
    body = (
        FIELDS_BLOCK.replace(
            "株式会社サンプル商事",
            "株式会社髙橋" if charset == "shift_jis" else "株式会社サンプル商事",
        )
        + "\n〜エラーが出ます〜\n"
    )
    parsed = parse_message(make_mail(body, charset=charset))
    assert "エラーが出ます" in parsed.body
    assert "\ufffd" not in parsed.body
    assert parsed.fields["customer_number"] == "C0123-4567"


def test_r28_iso2022jp_with_microsoft_extensions() -> None:
    # NEC row 13 inside ESC $ B, as Outlook sends it: ㈱ = 0x2D6A, ① = 0x2D21, Ⅱ = 0x2D36.
    jis = (
        b"\x1b$B-j\x1b(B"
        + "サンプル ".encode("iso2022_jp")
        + b"\x1b$B-!\x1b(B"
        + " 設定について ".encode("iso2022_jp")
        + b"\x1b$B-6\x1b(B\r\n"
    )
    head = (
        b"From: a@example.co.jp\r\nSubject: test\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
    )
    parsed = parse_message(head + jis)
    assert "㈱サンプル" in parsed.body and "①" in parsed.body and "Ⅱ" in parsed.body


def test_r28_encoded_word_subject_split_mid_character() -> None:
    raw = "ライセンスの件".encode()
    first, second = base64.b64encode(raw[:7]).decode(), base64.b64encode(raw[7:]).decode()
    message = (
        f"From: a@example.co.jp\r\nSubject: =?UTF-8?B?{first}?=\r\n =?UTF-8?B?{second}?=\r\n"
        "\r\nbody\r\n"
    ).encode()
    assert parse_message(message).subject == "ライセンスの件"


def test_r28_attachment_names_rfc2231_and_encoded_word_sizes_without_decoding() -> None:
    pdf = base64.encodebytes(b"%PDF-1.4 " + b"x" * 3000).decode()
    name_2231 = "".join(f"%{b:02X}" for b in "請求書①.pdf".encode())
    name_word = "=?UTF-8?B?" + base64.b64encode("ログ.txt".encode()).decode() + "?="
    message = (
        "From: a@example.co.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本文\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        f"Content-Disposition: attachment; filename*=UTF-8''{name_2231}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{pdf}"
        f'--b\r\nContent-Type: text/plain; name="{name_word}"\r\n'
        f'Content-Disposition: attachment; filename="{name_word}"\r\n\r\nlog line\r\n--b--\r\n'
    ).encode()
    parsed = parse_message(message)
    assert parsed.body.strip() == "本文"
    names = [(a.filename, a.content_type) for a in parsed.attachments]
    assert names == [("請求書①.pdf", "application/pdf"), ("ログ.txt", "text/plain")]
    assert abs(parsed.attachments[0].size - 3009) <= 3


def test_r1_html_only_mail_table_rows_give_fields() -> None:
    html = (
        "<html><body><p>お世話になっております。</p><table>"
        "<tr><th>会社名</th><td>株式会社サンプル商事</td></tr>"
        "<tr><th>お名前</th><td>山田 太郎</td></tr>"
        "<tr><th>ドメイン</th><td>example.co.jp</td></tr>"
        "<tr><th>お客様番号</th><td>C0123-4567</td></tr></table>"
        "<p>メールが届きません。</p></body></html>"
    )
    message = (
        "From: a@example.co.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(html.encode()).decode()
    ).encode()
    parsed = parse_message(message)
    assert parsed.missing == []
    assert "<table>" not in parsed.body and "メールが届きません" in parsed.body


def test_r1_quoted_history_and_signature_are_identified_not_used_first() -> None:
    body = (
        "お世話になっております。\n顧客番号：C9999-0001\nドメイン名：new.example.jp\n\n"
        "設定を変更したいです。\n\n--\n株式会社サンプル商事\n山田 太郎\n\n"
        "2026年11月20日(金) 10:00 サポート <support@example.jp>:\n"
        "> 顧客番号：C0000-0000\n> 氏名：古い 名前\n"
    )
    parsed = parse_message(make_mail(body))
    assert parsed.fields["customer_number"] == "C9999-0001"
    assert parsed.fields["name"] == "古い 名前"  # only in quoted history: taken from there
    assert parsed.signature_from_line is not None and parsed.quoted_from_line is not None
    assert parsed.signature_from_line < parsed.quoted_from_line


def test_r3_r5_two_inquiries_with_categories() -> None:
    body = FIELDS_BLOCK + (
        "\n質問が2点あります。\n"
        "① ライセンスキーの再発行をお願いできますか？\n"
        "② 他社製品のサーバー構築について相談できますか？\n"
    )
    parsed = parse_message(make_mail(body))
    assert [i.category for i in parsed.inquiries] == ["license", "out_of_scope"]


def test_r6_english_only_mail_is_other_language() -> None:
    parsed = parse_message(make_mail("Hello, my mail is broken.\n", subject="Help"))
    assert parsed.language == "other"


def test_r29_broken_part_is_parsed_as_far_as_possible_with_defects() -> None:
    message = (
        "From: a@example.co.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("設定について".encode()).decode()[:-3]
        + "\r\n"
    ).encode()
    parsed = parse_message(message)
    assert parsed.defects
    assert "設定" in parsed.body


# -- the real-world corpus ---------------------------------------------------------------------


def test_r28_r29_every_corpus_message_parses_and_decodes_cleanly() -> None:
    rows = corpus_rows()
    replaced = []
    for row in rows:
        parsed = parse_message((CORPUS / row["rel_path"]).read_bytes())
        if (
            row["japanese"].startswith("yes")
            and row["decode_status"] == "ok"
            and ("\ufffd" in parsed.subject or "\ufffd" in parsed.body)
        ):
            replaced.append(row["rel_path"])
    assert len(rows) > 1000
    assert replaced == []


def test_r29_corpus_tests_skip_without_the_shared_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.CORPUS", Path("/nonexistent/uketsuke/corpus"))
    expected = pytest.fail.Exception if REQUIRE_PEERS else pytest.skip.Exception
    with pytest.raises(expected, match="corpus not found"):
        corpus_rows()


def test_r27_corpus_bounces_are_recognised_and_never_inquiries() -> None:
    kinds: dict[str, int] = {}
    for row in corpus_rows():
        expectation = row["expectation"]
        if not expectation.startswith("derived-json:"):
            continue
        path = CORPUS / row["rel_path"]
        expected = json.loads(path.with_name(expectation.split(":", 1)[1]).read_text())
        reasons = {r["reason"] for r in expected["recipients"]}
        if reasons & {"feedback", "vacation", "delivered"}:
            continue
        kind = parse_message(path.read_bytes()).kind
        kinds[kind] = kinds.get(kind, 0) + 1
    total = sum(kinds.values())
    automatic = kinds.get("bounce", 0) + kinds.get("auto_reply", 0)
    assert kinds.get("bounce", 0) / total >= 0.93, kinds
    assert automatic / total >= 0.98, kinds


# -- never raise, never hang -------------------------------------------------------------------

# Speed is measured in bench/, never here. A parse of a few KB makes a few thousand calls (six a
# byte for a message of tiny parts); work that grows faster than the input blows any linear
# budget, counted deterministically. What cannot be counted (a regex backtracking inside one
# call) is caught by a hang detector: HANG_LIMIT is no speed limit, a parse takes milliseconds.
CALLS_PER_BYTE = 50


def parse_in_bounded_work(data: bytes) -> None:
    """``parse_message(data)`` (NotAMessage allowed) within a budget of Python and C function
    calls linear in the size of ``data``, and without hanging."""

    def parse() -> None:
        with contextlib.suppress(NotAMessage):
            parse_message(data)

    with hang_detector(HANG_LIMIT, f"parse_message of {len(data):,} bytes"):
        calls = python_calls(parse, c_calls=True)
    budget = 10_000 + CALLS_PER_BYTE * len(data)
    assert calls <= budget, f"{calls:,} calls to parse {len(data):,} bytes"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_r29_arbitrary_bytes_never_raise(data: bytes) -> None:
    parse_in_bounded_work(data)


def _corpus_sample() -> list[bytes]:
    if not CORPUS.exists():
        return list(SEEDS.values())
    paths = sorted(p for p in CORPUS.rglob("*.eml") if p.stat().st_size < 20000)
    return [p.read_bytes() for p in paths[::25]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_corpus_sample()), st.data())
def test_r29_mutated_real_messages_never_raise(message: bytes, data: st.DataObject) -> None:
    mutated = bytearray(message)
    for _ in range(data.draw(st.integers(1, 20))):
        position = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and mutated:
            mutated[position] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del mutated[position : position + data.draw(st.integers(1, 200))]
        else:
            mutated[position:position] = data.draw(
                st.sampled_from(
                    [
                        b"\x1b$B",
                        b"=?utf-8?b?",
                        b"\r\n\r\n",
                        b"--",
                        b"\xff\xfe",
                        b"Content-Type: multipart/mixed; boundary=x\r\n",
                    ]
                )
            )
    parse_in_bounded_work(bytes(mutated))
