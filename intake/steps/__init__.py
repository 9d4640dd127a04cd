"""The stored-mail pipeline's steps, in order (GNU Mailman's ``core/pipelines.py`` is the model).

Each step is one rule: it returns to let the next step run, or raises an
:class:`~intake.outcomes.Outcome` that ends the message (processed, held, ignored, deferred).
The runner (``intake.pipeline``) owns the loop, the transactions and the outcomes.
"""

from __future__ import annotations

from collections.abc import Callable

from intake.steps.context import Context
from intake.steps.fax import fax
from intake.steps.inquiry import inquiry
from intake.steps.route import automatic, bounce, parse
from intake.steps.staff import staff
from intake.steps.thread import follow_up
from intake.steps.web import web

Step = Callable[[Context], None]

STEPS: tuple[Step, ...] = (parse, web, bounce, automatic, staff, follow_up, fax, inquiry)

__all__ = ["STEPS", "Context", "Step"]
