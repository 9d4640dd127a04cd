"""A WSGI entry point for those who serve the web app themselves (``gunicorn
intake.web.wsgi:app`` behind their own proxy, with ``uketsuke run --no-web``). The
configuration comes from ``UKETSUKE_CONFIG`` and the environment, as for ``uketsuke run``."""

from __future__ import annotations

from intake.config import load_config
from intake.web import create_app

app = create_app(load_config())
