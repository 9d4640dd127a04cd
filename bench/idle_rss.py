"""The idle daemon's memory: RSS summed over all its processes (issue 9 goal: at most 160 MB).

    .venv/bin/python bench/idle_rss.py [--settle 8]

Starts ``uketsuke run`` on a fresh SQLite home (no IMAP, no fax gateway), waits until it said
READY=1 and then ``--settle`` seconds more, and reads VmRSS of the daemon and every descendant
from /proc. The baseline, measured in the same run, is a bare ``python -c "import email.parser;
time.sleep(…)"`` process.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UKETSUKE = Path(sys.executable).with_name("uketsuke")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_kib(pid: int) -> tuple[int, str]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return 0, ""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]), cmdline[:90]
    return 0, cmdline[:90]


def measure_daemon(settle: float) -> list[tuple[int, int, str]]:
    home = Path(tempfile.mkdtemp(prefix="uk-rss-"))
    notify_path = home / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UKETSUKE_")}
    env.update(
        UKETSUKE_HOME=str(home),
        UKETSUKE_SMTP_PORT=str(free_port()),
        UKETSUKE_WEB_PORT=str(free_port()),
    )
    subprocess.run([str(UKETSUKE), "migrate"], env=env, check=True, capture_output=True)
    env["NOTIFY_SOCKET"] = str(notify_path)
    log = (home / "daemon.log").open("wb")
    daemon = subprocess.Popen([str(UKETSUKE), "run"], env=env, stdout=log, stderr=log)
    try:
        while notify.recv(4096).decode() != "READY=1":
            pass
        time.sleep(settle)
        return [(pid, *rss_kib(pid)) for pid in descendants(daemon.pid)]
    finally:
        daemon.terminate()
        daemon.wait(60)
        notify.close()


def measure_baseline() -> int:
    probe = subprocess.Popen(
        [sys.executable, "-c", "import email.parser, time; time.sleep(5)"],
    )
    time.sleep(1.5)
    kib = rss_kib(probe.pid)[0]
    probe.kill()
    probe.wait()
    return kib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()
    baseline = measure_baseline()
    rows = measure_daemon(args.settle)
    total = sum(kib for _, kib, _ in rows)
    print(f"baseline python -c 'import email.parser': {baseline / 1024:.1f} MB")
    for pid, kib, cmd in rows:
        print(f"  pid {pid:>7}  {kib / 1024:6.1f} MB  {cmd}")
    print(
        f"idle daemon: {len(rows)} processes, {total / 1024:.1f} MB RSS in all "
        f"({total / baseline:.1f}x the baseline; goal <= 160 MB)"
    )
    return 0 if total <= 160 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
