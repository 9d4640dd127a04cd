"""The customer forms (R1, R30): every input labelled in Japanese, every error next to its field.

Flask-WTF forms (CSRF-protected). Single-line inputs refuse line breaks, the Unicode line and
paragraph separators (U+2028, U+2029) and control characters, so nothing typed can reach a mail
header; multi-line inputs refuse the same but their line breaks (CR, LF) and tabs. Each is a field
error on the confirm step, with everything typed kept (a separator once passed 確認 and failed 送信
with a 500). The customer number, domain and address are normalised as mail fields are (NFKC,
full-width digits); company and name are kept as typed, trimmed.
"""

from __future__ import annotations

import unicodedata

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from intake.fieldnames import FIELD_LABELS
from intake.mail.fields import normalize_customer_number, normalize_domain
from intake.text import EMAIL_ADDRESS

REQUIRED = "入力してください。"
LINE_BREAK_OR_CONTROL = "改行や制御文字は使えません。"
INVISIBLE_CONTROL = (
    "使用できない文字（目に見えない制御文字など）が含まれています。"
    "文章を貼り付けた場合は、改行を入れ直してください。"
)
# Unicode categories refused: control characters (C0, DEL, C1 with NEL) and the line and
# paragraph separators U+2028/U+2029, which str.splitlines() and the mail headers take as breaks.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
_MULTI_LINE_ALLOWED = frozenset("\r\n\t")  # what a textarea legitimately holds
CATEGORIES = [
    ("operation", "操作方法・設定方法"),
    ("fault", "不具合・障害"),
    ("license", "ライセンスキー再発行"),
    ("general", "契約・サービス内容"),
    ("other", "その他"),
]
LICENSE_REASONS = [
    ("server_change", "サーバーの移行・入れ替え"),
    ("reinstall", "再インストール"),
    ("lost", "ライセンスキーの紛失"),
    ("other", "その他"),
]
MAX_ITEMS = 10


def _refused(c: str) -> bool:
    return unicodedata.category(c) in _REFUSED_CATEGORIES


def single_line(form: FlaskForm, field: StringField) -> None:
    """R30: no line break, line/paragraph separator or control character (a header is one line:
    no injection)."""
    if any(_refused(c) for c in field.data or ""):
        raise ValidationError(LINE_BREAK_OR_CONTROL)


def multi_line(form: FlaskForm, field: TextAreaField) -> None:
    """R30: line breaks and tabs, but no other control character and no U+2028/U+2029 (text
    pasted from a word processor or a PDF carries them where it had a line break)."""
    if any(_refused(c) and c not in _MULTI_LINE_ALLOWED for c in field.data or ""):
        raise ValidationError(INVISIBLE_CONTROL)


def email_address(form: FlaskForm, field: StringField) -> None:
    value = unicodedata.normalize("NFKC", (field.data or "").strip())
    if not EMAIL_ADDRESS.fullmatch(value) or len(value) > 254:
        raise ValidationError(
            "メールアドレスの形式が正しくありません（例: yamada@example.co.jp）。"
        )
    field.data = value


def domain_name(form: FlaskForm, field: StringField) -> None:
    value = normalize_domain(field.data or "")
    if not value:
        raise ValidationError("ドメイン名の形式が正しくありません（例: example.co.jp）。")
    field.data = value


def customer_number(form: FlaskForm, field: StringField) -> None:
    value = normalize_customer_number(field.data or "")
    if not value:
        raise ValidationError("顧客番号の形式が正しくありません（例: C0123-4567）。")
    field.data = value


def _text(label: str, maximum: int, *extra: object) -> StringField:
    return StringField(
        label,
        validators=[
            DataRequired(REQUIRED),
            Length(max=maximum, message=f"{maximum}文字以内で入力してください。"),
            single_line,
            *extra,
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )


class CustomerFields(FlaskForm):
    """R1: the four fields, and where the answer goes (R10: by email only)."""

    company = _text(FIELD_LABELS["company"], 200)
    name = _text(FIELD_LABELS["name"], 100)
    domain = _text(FIELD_LABELS["domain"], 253, domain_name)
    customer_number = _text(FIELD_LABELS["customer_number"], 64, customer_number)
    email = _text("メールアドレス", 254, email_address)
    # A honeypot: hidden from people by CSS, filled in by bots. Never shown as an error.
    website = StringField("ウェブサイト（入力しないでください）", validators=[Optional()])


class InquiryForm(CustomerFields):
    category = SelectField(
        "お問い合わせの種類", choices=[SelectChoice(*c) for c in CATEGORIES], default="operation"
    )
    urgent = BooleanField("緊急（業務が止まっている）")
    subject = _text("件名", 200)
    items = FieldList(
        TextAreaField(
            "お問い合わせ内容",
            validators=[
                DataRequired(REQUIRED),
                Length(max=20000, message="20000文字以内で入力してください。"),
                multi_line,
            ],
        ),
        min_entries=1,
        max_entries=MAX_ITEMS,
    )
    attachments = MultipleFileField("添付ファイル")


class LicenseForm(CustomerFields):
    product = _text("製品名", 200)
    reason = SelectField(
        "再発行の理由",
        choices=[SelectChoice(*c) for c in LICENSE_REASONS],
        default="server_change",
    )
    new_server = TextAreaField(
        "新しいサーバーの情報（ホスト名・OSなど）",
        validators=[
            DataRequired(REQUIRED),
            Length(max=4000, message="4000文字以内で入力してください。"),
            multi_line,
        ],
    )
