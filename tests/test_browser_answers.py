"""The dashboard's answer form in a real browser against the real daemon: 挿入 fills a canned
answer in (a plain submit button, no JavaScript) and a file chosen on the form reaches the
customer with the answer, through the relay sink. The daemon, the relay and Chromium are
``tests/test_browser.py``'s, one set for this module."""

from __future__ import annotations

import smtplib
from pathlib import Path

from playwright.sync_api import expect

from tests.browser import Visit
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_answer_files import PDF, files_of
from tests.test_browser import (  # noqa: F401 - fixtures
    CUSTOMERS,
    NAMES,
    Desk,
    browser,
    desk,
    log_in,
    visit,
)

CANNED = "{氏名} 様\n\nお問い合わせ {番号} の手順書をお送りします。"


def test_canned_insert_and_a_file_in_a_dashboard_answer_reach_the_customer(
    visit: Visit,  # noqa: F811
    desk: Desk,  # noqa: F811
    tmp_path: Path,
) -> None:
    page, device = visit.page, visit.device.name
    customer = CUSTOMERS[device]
    text = tmp_path / "canned.txt"
    text.write_text(CANNED, encoding="utf-8")
    added = desk.daemon.run("canned", "add", f"手順書-{device}", "--file", str(text))
    assert added.returncode == 0, added.stderr
    fields = FIELDS_BLOCK.replace("山田 太郎", NAMES[device])
    inquiry = make_mail(fields + "\n印刷できません。\n", sender=customer)
    with smtplib.SMTP("127.0.0.1", desk.daemon.smtp_port, timeout=30) as client:
        client.sendmail(customer, ["support@example.jp"], inquiry)
    ack = desk.sink.wait_for(lambda r, m: r == [customer] and "受け付けました" in str(m["Subject"]))
    number = int(str(ack["Subject"]).split("]")[0].rsplit("#", 1)[1])

    log_in(page, desk)
    page.goto(desk.url(f"/staff/incidents/{number}"))
    form = page.get_by_role("region", name="回答する（メールでお客様へ）")
    form.get_by_label("定型文").select_option(f"手順書-{device}")
    form.get_by_label("回答", exact=True).fill("#time 15m\nご確認ください。")
    form.get_by_role("button", name="挿入").click()
    box = page.get_by_role("region", name="回答する（メールでお客様へ）").get_by_label(
        "回答", exact=True
    )
    expected = (
        f"#time 15m\n{NAMES[device]} 様\n\nお問い合わせ [#{number}] の手順書をお送りします。"
        "\n\nご確認ください。"
    )
    expect(box).to_have_value(expected)
    visit.shot("canned-inserted")
    pdf = tmp_path / "手順書.pdf"
    pdf.write_bytes(PDF)
    page.get_by_label("添付ファイル").set_input_files(str(pdf))
    page.get_by_role("button", name="送信する").click()
    expect(page.get_by_role("link", name="手順書.pdf")).to_be_visible()

    relayed = desk.sink.wait_for(
        lambda r, m: r == [customer] and str(m["Subject"]).startswith(f"Re: [#{number}]"),
        timeout=30,
    )
    assert files_of(relayed) == [("手順書.pdf", "application/pdf", PDF)]
    body = relayed.get_body(("plain",))
    assert body is not None
    assert f"{NAMES[device]} 様" in body.get_content() and "#time" not in body.get_content()
