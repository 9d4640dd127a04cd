"""What follows an accepted inquiry: a short ordered list of small steps (docs/architecture.md,
"The flow of one message").

``accept`` creates the incidents and queues the acknowledgment; then each step here runs once, in
the same transaction, whatever door the inquiry came through: the after-hours page (R22), the
license-key mail (R14–R16), the assignment in turn (``auto_assign``, docs/staff.md), the first
answer's due time (``intake.targets``) and the staff
notification (R20). A new duty is a new step.

Each step lives with the rule it implements and takes an :class:`intake.incidents.Accepted`;
this module is above them all and only lists them (none of them imports it).
"""

from __future__ import annotations

from collections.abc import Callable

from intake.desk import auto_assign
from intake.incidents import Accepted
from intake.licensing import license_requests
from intake.targets import start_first_response
from responder.staffnotify import notify_staff_of_new_incidents
from scheduler.oncall import page_oncall

AfterStep = Callable[[Accepted], None]

# The key mail is queued before staff are told, so their notification shows its due time.
AFTER_ACCEPT_STEPS: tuple[AfterStep, ...] = (
    page_oncall,
    license_requests,
    auto_assign,  # before the notification: an assigned incident is mailed to its assignee
    start_first_response,
    notify_staff_of_new_incidents,
)
