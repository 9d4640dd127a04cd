"""The one error the fax OCR modules raise (R11, docs/rules.md)."""

from __future__ import annotations


class OcrError(Exception):
    """The attachment could not be read as page images, or the OCR engine failed (R11).

    The caller catches it and treats the fax as unread (held for keying, R11).
    """
