"""Jinja2 templates (templates/mail, templates/web), found in the checkout and in the wheel.

A mail template renders its subject on the first line, a blank line, then the body.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

import intake


def templates_dir() -> Path:
    """``intake/_templates`` inside an installed wheel, else ``templates/`` of the checkout."""
    package = Path(intake.__file__).resolve().parent
    for candidate in (package / "_templates", package.parent / "templates"):
        if (candidate / "mail").is_dir():
            return candidate
    raise FileNotFoundError("uketsuke templates not found (neither in the package nor checkout)")


@cache
def environment() -> jinja2.Environment:
    # The templates ship with the code (an upgrade restarts the daemon): each is compiled once,
    # never checked for changes (Jinja's default stats the file at every render: about 15 µs
    # of every acknowledgment the processor queues).
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=jinja2.select_autoescape(["html"]),
    )


def render_mail(template_name: str, **context: object) -> tuple[str, str]:
    """Render ``templates/mail/<template_name>.txt.j2``: (subject, body)."""
    text = environment().get_template(f"mail/{template_name}.txt.j2").render(**context)
    subject, _, body = text.partition("\n\n")
    return " ".join(subject.split()), body.rstrip() + "\n"
