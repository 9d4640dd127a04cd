"""The four fields every inquiry must state (R1): their keys, in the order they are asked for,
and the Japanese labels mails, forms, pages and the command line show.

Pure: no I/O, so the parser, the web form and the responders import it alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELD_LABELS = {
    "company": "社名",
    "name": "氏名",
    "domain": "ドメイン名",
    "customer_number": "顧客番号",
}
FIELD_NAMES = tuple(FIELD_LABELS)


def stated_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The four fields of ``fields``, in order, None for each one not there."""
    return {name: fields.get(name) for name in FIELD_NAMES}
