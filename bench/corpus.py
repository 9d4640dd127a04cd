"""The generated Japanese corpus the peers were measured on (../shared/tools/make_corpus.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The shared folder: UKETSUKE_SHARED, else beside the checkout.
SHARED = Path(os.environ.get("UKETSUKE_SHARED") or Path(__file__).resolve().parents[2] / "shared")


def make_corpus(n: int, out: Path) -> list[Path]:
    """Write ``n`` messages into ``out/eml`` and return their paths in corpus order."""
    subprocess.run(
        [
            sys.executable,
            str(SHARED / "tools" / "make_corpus.py"),
            "--n",
            str(n),
            "--out",
            str(out),
            "--only",
            "eml",
        ],
        check=True,
        capture_output=True,
    )
    return sorted((out / "eml").glob("*.eml"))
