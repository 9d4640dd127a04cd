"""``uketsuke backup DEST``: a consistent copy of a running SQLite installation (issue 15).

The database is copied with SQLite's online backup API (a consistent snapshot while the daemon
writes), then the spool: a spool file is fsynced and renamed into place before the row naming it
is committed, so every file the copied database names is already there when the spool is copied
afterwards (docs/operations.md, "Backups"). The web secret (close links, sessions) and the staff
reply key (tokens in notifications already sent) go with them. Everything in DEST is private
(0700/0600). PostgreSQL is backed up with ``pg_dump``.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from intake.closelink import KEY_FILE
from intake.replykey import KEY_FILE as REPLY_KEY_FILE
from intake.spool import spool_dir

DATABASE_FILE = "uketsuke.db"


@dataclass(frozen=True)
class Copied:
    database: Path
    spool_files: int
    bytes: int


class BackupError(Exception):
    pass


def backup_sqlite(database: Path, home: Path, dest: Path) -> Copied:
    """Copy ``database`` (online), then ``home``'s spool and web secret, into ``dest``, which
    must not exist yet or be empty."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty; give a new folder")
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = dest / DATABASE_FILE
    source = sqlite3.connect(database, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    files = size = 0
    spool = spool_dir(home)
    if spool.is_dir():
        for path in sorted(spool.rglob("*")):
            relative = path.relative_to(spool)
            if relative.parts and relative.parts[0] == "tmp":
                continue  # transfers under way: no committed row names them
            if path.is_file():
                (dest / "spool" / relative).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.copy2(path, dest / "spool" / relative)
                files += 1
                size += path.stat().st_size
    for name in (KEY_FILE, REPLY_KEY_FILE):  # links in sent mail and staff tokens stay valid
        secret = home / name
        if secret.is_file():
            shutil.copy2(secret, dest / name)
    return Copied(target, files, size + target.stat().st_size)
