"""A very large message is parsed in bounded memory, from bytes or from a read-only mmap (R29).

The spool keeps a raw message in a file; the processor maps it and parses the mapping. Parsing
must locate the parts of the message inside that one buffer and never copy the body or an
attachment: only the headers, the text part that is read and bookkeeping are allocated.
"""

from __future__ import annotations

import base64
import csv
import mmap
import os
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from pathlib import Path

import pytest

from intake.mail.mime import parse_tree
from intake.mail.parse import NotAMessage, ParsedMessage, parse_message
from tests.conftest import REQUIRE_PEERS, SHARED, missing_peer
from tests.work import python_calls

CORPUS = SHARED / "corpus"
ATTACHMENT_BYTES = 18 * 1024 * 1024
PEAK_LIMIT = 2 * 1024 * 1024

TEXT = (
    "お世話になっております。\n"
    "請求書のPDFを添付いたしますので、ご確認ください。\n"
    "\n"
    "社名: 株式会社テスト\n"
    "氏名: 山田太郎\n"
    "ドメイン名: example.co.jp\n"
    "顧客番号: C-12345\n"
    "\n"
    "よろしくお願いいたします。\n"
)


def _write_large_mail(path: Path) -> int:
    """A ~25 MB mail: a Japanese text/plain part and an 18 MB PDF in base64 (76-char lines,
    CRLF), written in slices so the test itself holds no copy of the whole message."""
    head = (
        "From: =?UTF-8?B?5bGx55Sw5aSq6YOO?= <yamada@example.co.jp>\r\n"
        "To: support@example.jp\r\n"
        "Subject: =?UTF-8?B?6KuL5rGC5pu444Gu5Lu2?=\r\n"
        "Date: Tue, 24 Nov 2026 10:30:00 +0900\r\n"
        "Message-ID: <large.1@customer.example.co.jp>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="=_large_boundary"\r\n'
        "\r\n"
        "This is a multi-part message in MIME format.\r\n"
        "--=_large_boundary\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    ).encode("ascii") + TEXT.replace("\n", "\r\n").encode("utf-8")
    attachment_head = (
        "\r\n--=_large_boundary\r\n"
        'Content-Type: application/pdf; name="invoice.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        "\r\n"
    ).encode("ascii")
    step = 57 * 4096  # whole 76-character base64 lines per slice
    with path.open("wb") as handle:
        handle.write(head + attachment_head)
        for offset in range(0, ATTACHMENT_BYTES, step):
            chunk = os.urandom(min(step, ATTACHMENT_BYTES - offset))
            lines = base64.encodebytes(chunk).replace(b"\n", b"\r\n")
            handle.write(lines)
        handle.write(b"--=_large_boundary--\r\n")
    return path.stat().st_size


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap]:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        yield m


def _traced_peak(func, *args):  # noqa: ANN001, ANN202 - a test helper
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = func(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def _summary(parsed: ParsedMessage) -> dict[str, object]:
    return {
        "subject": parsed.subject,
        "sender": parsed.sender,
        "kind": parsed.kind,
        "fields": parsed.fields,
        "missing": parsed.missing,
        "attachments": [asdict(a) for a in parsed.attachments],
        "body": parsed.body,
        "defects": parsed.defects,
    }


@pytest.fixture(scope="module")
def large_mail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("large") / "large.eml"
    return path, _write_large_mail(path)


def test_r29_large_attachment_parsed_without_copying(large_mail: tuple[Path, int]) -> None:
    path, size = large_mail
    assert 20_000_000 < size < 26_000_000
    with _mapped(path) as mapped:
        parsed, peak = _traced_peak(parse_message, mapped)
    assert parsed.subject == "請求書の件"
    assert parsed.fields == {
        "company": "株式会社テスト",
        "name": "山田太郎",
        "domain": "example.co.jp",
        "customer_number": "C-12345",
    }
    assert parsed.missing == []
    assert [asdict(a) for a in parsed.attachments] == [
        {"filename": "invoice.pdf", "content_type": "application/pdf", "size": ATTACHMENT_BYTES}
    ]
    assert "請求書のPDFを添付いたします" in parsed.body
    # Neither the body nor the attachment was copied: far below the 25 MB of the message.
    assert peak < min(PEAK_LIMIT, size // 20), f"peak {peak:,} bytes for a {size:,}-byte message"


def test_r29_large_mail_from_mmap_reads_as_from_bytes(large_mail: tuple[Path, int]) -> None:
    path, _ = large_mail
    data = path.read_bytes()
    from_bytes, peak = _traced_peak(parse_message, data)
    with _mapped(path) as mapped:
        from_mmap = parse_message(mapped)
    assert _summary(from_mmap) == _summary(from_bytes)
    assert from_mmap.fields["customer_number"] == "C-12345"
    assert peak < PEAK_LIMIT, f"peak {peak:,} bytes parsing bytes"


def test_r29_mime_tree_of_mmap_is_windows_on_the_mapping(large_mail: tuple[Path, int]) -> None:
    path, _ = large_mail
    with _mapped(path) as mapped:
        root = parse_tree(mapped)
        text, pdf = root.children
        assert pdf.content_type == "application/pdf"
        assert pdf.size > ATTACHMENT_BYTES  # base64: 4/3 of the file, plus line ends
        assert len(base64.b64decode(mapped[pdf.start : pdf.start + 76])) == 57
        assert mapped[pdf.end : pdf.end + 22] == b"\r\n--=_large_boundary--"
        assert text.body.decode("utf-8").replace("\r\n", "\n") == TEXT


PARSERS: dict[str, Callable[[mmap.mmap | bytes], object]] = {
    "parse_message": parse_message,
    "parse_tree": parse_tree,
}


def _corpus_sample() -> list[Path]:
    """Multipart messages of every kind the corpus has: reports, attachments, nested, Japanese.
    Skips the test (fails it under UKETSUKE_REQUIRE_PEERS=1) when the corpus is absent."""
    index = CORPUS / "INDEX.tsv"
    if not index.is_file():
        missing_peer(f"corpus not found at {CORPUS}")
    with index.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["dup_of"] == "-"]
    picked: list[Path] = []
    seen: set[str] = set()
    for row in rows:
        types = row["content_types"]
        if not types.startswith("multipart/"):
            continue
        key = (row["rel_path"].split("/", 1)[0], types.count("multipart/") > 1, row["japanese"])
        if str(key) in seen:
            continue
        seen.add(str(key))
        picked.append(CORPUS / row["rel_path"])
    return picked


def _calls(function: Callable[[mmap.mmap | bytes], object], data: mmap.mmap | bytes) -> int:
    """How many Python and C functions ``function(data)`` calls (NotAMessage allowed): its work,
    counted, not timed."""

    def run() -> None:
        with suppress(NotAMessage):
            function(data)

    return python_calls(run, c_calls=True)


def test_r29_corpus_multipart_from_mmap_equals_bytes(tmp_path: Path) -> None:
    """The mapping parses to the same result as the bytes, and by the same work: no slower path
    for a mapping (work counted as function calls, with the caches warmed by the parses above;
    speed is measured in bench/, never here)."""
    sample = _corpus_sample()
    assert len(sample) >= 10
    for source in sample:
        data = source.read_bytes()
        copy = tmp_path / source.name
        copy.write_bytes(data)
        try:
            expected = asdict(parse_message(data))
        except NotAMessage:
            expected = None
        with _mapped(copy) as mapped:
            try:
                got = asdict(parse_message(mapped))
            except NotAMessage:
                got = None
            tree = [(p.content_type, p.body, p.size) for p in parse_tree(mapped).walk()]
            work = {name: (_calls(f, data), _calls(f, mapped)) for name, f in PARSERS.items()}
        assert got == expected, source
        assert tree == [(p.content_type, p.body, p.size) for p in parse_tree(data).walk()], source
        for name, (from_bytes, from_mapping) in work.items():
            assert from_mapping <= from_bytes + 20, (
                f"{name}: {from_mapping} calls from the mapping, {from_bytes} from bytes",
                source,
            )


def test_r29_corpus_test_skips_without_the_shared_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clone without ../shared beside it: the corpus test skips, or fails when peers are
    required, and the module imports either way."""
    monkeypatch.setattr(f"{__name__}.CORPUS", Path("/nonexistent/uketsuke/corpus"))
    expected = pytest.fail.Exception if REQUIRE_PEERS else pytest.skip.Exception
    with pytest.raises(expected, match="corpus not found"):
        _corpus_sample()
