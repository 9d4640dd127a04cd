"""A reader that goes away (``uketsuke … | head -1``) ends the command quietly (R30).

It used to end in "internal error (BrokenPipeError)", exit 1.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from intake.cli import EXIT_BROKEN_PIPE
from tests.conftest import UKETSUKE, Cli


def many_mailboxes(cli: Cli, count: int) -> Path:
    """A configuration whose check-config output is far larger than a pipe's buffer."""
    path = cli.home / "many.toml"
    path.write_text(
        "".join(
            f'[[imap]]\nname = "box{i}"\nhost = "imap.example.jp"\nusername = "u{i}"\n'
            'password = "pw"\n'
            for i in range(count)
        ),
        encoding="utf-8",
    )
    return path


def test_r30_reader_closes_after_one_line(cli: Cli) -> None:
    path = many_mailboxes(cli, 2000)  # about 250 kB of output, four times a pipe's 64 kB
    proc = subprocess.Popen(
        [str(UKETSUKE), "check-config", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
        cwd=cli.home,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert first.startswith(b"config: ")
    assert stderr == b""


def test_r30_reader_gone_before_the_first_write(cli: Cli) -> None:
    """Small output sits in the buffer until the final flush: the error comes at exit."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [str(UKETSUKE), "calendar", "--profile", "desknet", "is-open", "2026-11-24T10:00"],
            stdout=write,
            stderr=subprocess.PIPE,
            env=cli.env,
            cwd=cli.home,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (EXIT_BROKEN_PIPE, b"")


def test_r30_help_into_a_closed_pipe(cli: Cli) -> None:
    """argparse prints help itself and ignores a failed write (status 0): quiet all the same."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [str(UKETSUKE), "--help"], stdout=write, stderr=subprocess.PIPE, env=cli.env
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (0, b"")


def test_shell_pipeline_into_head(cli: Cli) -> None:
    path = many_mailboxes(cli, 2000)
    proc = subprocess.run(
        f"'{UKETSUKE}' check-config --config '{path}' | head -1",
        shell=True,
        capture_output=True,
        env=cli.env,
        cwd=cli.home,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout.startswith(b"config: ") and proc.stdout.count(b"\n") == 1
