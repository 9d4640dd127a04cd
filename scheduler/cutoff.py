"""License-key reissue cutoff: when the key mail is due (R14, DN 2(2)).

DN 2(2): "当社営業日17時までの申請受理分につきましてはその当日中に、
また当社営業日17時以降および当社休業日の申請受理分につきましては、翌営業日に送付いたします。"
The terms say both "17時まで" (by 17:00) and "17時以降" (from 17:00), which overlap at 17:00;
R14 settles it in the customer's favour: 17:00:00.000000 is same day, any later instant
(even 17:00:00.000001) is next day.

Pure: the received instant is passed in; the result is an aware Asia/Tokyo datetime.
"""

from __future__ import annotations

from datetime import datetime

from scheduler.calendar import BusinessCalendar, to_tokyo

__all__ = ["is_same_day", "license_due"]


def is_same_day(cal: BusinessCalendar, received: datetime) -> bool:
    """Whether a request received at ``received`` gets its key mail the same day (R14).

    True when its Tokyo date is a business day (R12) and its Tokyo wall time is at or before the
    profile's cutoff (inclusive).  A naive ``received`` raises :class:`ValueError`.
    """
    local = to_tokyo(received)
    return cal.is_business_day(local.date()) and local.time() <= cal.license_cutoff


def license_due(cal: BusinessCalendar, received: datetime) -> datetime:
    """When the license-key mail for a request received at ``received`` is due (R14).

    Same day (see :func:`is_same_day`): at once, i.e. ``received`` itself, or that day's opening
    if received before it.  A same-day request received in the lunch break, or after closing but
    by the cutoff, also goes out at once: R14 says "at once" and only holds mail received before
    the opening.  Otherwise (after the cutoff, or on a non-business day): the opening of the next
    business day strictly after the received date.  Returns an aware datetime in Asia/Tokyo;
    a naive ``received`` raises :class:`ValueError`.
    """
    local = to_tokyo(received)
    d = local.date()
    if is_same_day(cal, local):
        return max(local, cal.opening_of(d))
    return cal.opening_of(cal.next_business_day(d))
