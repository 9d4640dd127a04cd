"""uketsuke's files are private to the user that runs it (issue 15, R26): the database, the spool
and the outgoing Maildir hold customers' mail and license keys.

Every ``uketsuke`` command runs with umask 077, so whatever it creates — the home folder, the
SQLite database and its WAL, spool files, mail written to the Maildir, uploads — is 0700/0600
whoever starts it, with or without systemd's ``UMask=``. At the daemon's start, files made by an
older version with wider modes are narrowed: the home folder, the database files, and the
folders under the home, two levels down (a private folder hides the files in it whatever their
own modes).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

UMASK = 0o077
_DATABASE_FILES = ("uketsuke.db", "uketsuke.db-wal", "uketsuke.db-shm")


def private_umask() -> None:
    os.umask(UMASK)


def narrow(home: Path, database: Path | None = None) -> int:
    """Take group and other access away from what an older version left readable; returns how
    many paths were changed. Paths not owned by this user are left alone."""
    paths = [home, *(home / name for name in _DATABASE_FILES)]
    if database is not None:
        paths += [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
    # Folders two levels down (spool/…, mail-out/new): the private home hides the rest already,
    # and a walk of every mail in the Maildir would slow every start.
    with contextlib.suppress(OSError):
        for child in _folders(home):
            paths += [child, *_folders(child)]
    changed = 0
    for path in dict.fromkeys(paths):
        try:
            info = path.lstat()
        except OSError:
            continue
        if info.st_uid != os.getuid() or stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            with contextlib.suppress(OSError):
                path.chmod(mode & 0o700)
                changed += 1
    return changed


def _folders(path: Path) -> list[Path]:
    with contextlib.suppress(OSError):
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    return []
