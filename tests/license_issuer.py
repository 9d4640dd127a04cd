"""A license-key issuer for the tests, called as the daemon calls a real one (R14–R16).

``license_issuer.py LOG [MODE]``: reads the request JSON on stdin, appends it as one line to LOG
(so a test counts the calls and reads what was asked), and prints a key made from the call's
number. MODE makes it misbehave: ``fail`` (exit 3, the key on stderr and stdout),
``two-lines``, ``empty``, ``slow`` (sleeps 10 s).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    log = Path(argv[1])
    mode = argv[2] if len(argv) > 2 else "ok"
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(request, ensure_ascii=False) + "\n")
    calls = len(log.read_text(encoding="utf-8").splitlines())
    key = f"NEO-{request['customer_number']}-{calls:04d}-7Q4Z"
    if mode == "fail":
        print(key)
        print(key, file=sys.stderr)
        return 3
    if mode == "two-lines":
        print(key)
        print(key)
    elif mode == "slow":
        time.sleep(10)
    elif mode != "empty":
        print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
