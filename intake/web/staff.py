"""The staff dashboard under ``/staff/`` (R26): being written."""

from __future__ import annotations

from flask import Blueprint

staff = Blueprint("staff", __name__)
