"""DKIM for staff answers (R21): which domain's signature verifies on a stored message."""

from __future__ import annotations

from collections.abc import Callable

DnsLookup = Callable[..., bytes | None]


def verified_domain(data: bytes, dnsfunc: DnsLookup | None = None) -> str | None:
    """The ``d=`` domain of the message's first DKIM signature when it verifies, else None.

    ``dnsfunc`` looks up the signer's key (dkimpy's interface); None asks DNS."""
    import dkim  # here: only staff answers need it

    checker = dkim.DKIM(data)
    try:
        ok = checker.verify(dnsfunc=dnsfunc) if dnsfunc is not None else checker.verify()
    except Exception:  # noqa: BLE001 - any malformed signature or look-up failure is "not verified"
        return None
    if not ok or not checker.domain:
        return None
    return checker.domain.decode("ascii", "replace").lower()
