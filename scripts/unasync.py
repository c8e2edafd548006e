#!/usr/bin/env python3
"""Generate the sync client (labelarts/client/_client.py) from the async one (_async_client.py).

The async client is the one implementation; this rewrites it token by token, as httpcore's
unasync does, then formats the result with ruff. ``--check`` exits 1 when _client.py is not
what this would write (tests/client/test_unasync.py runs it).

    python scripts/unasync.py          # rewrite labelarts/client/_client.py
    python scripts/unasync.py --check
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "labelarts/client/_async_client.py"
TARGET = ROOT / "labelarts/client/_client.py"

HEADER = (
    "# Generated from labelarts/client/_async_client.py by scripts/unasync.py: do not edit.\n"
    "# Change the async client and run `python scripts/unasync.py`.\n"
    "# ruff: noqa: UP028 (`async for ...: yield` has no `yield from`; its sync twin keeps the loop)\n"
)

# (pattern, replacement), applied in order; \b keeps them to whole words.
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"\bAsyncLabelArtsClient\b", "LabelArtsClient"),
    (r"\bhttpx\.AsyncClient\b", "httpx.Client"),
    (r"\bhttpx\.AsyncBaseTransport\b", "httpx.BaseTransport"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAwaitable\[([A-Za-z_][A-Za-z0-9_]*)\]", r"\1"),
    (r"\bAwaitable, ", ""),
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"^import asyncio$", "import time"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baread\b", "read"),
    (r"\bas a typed coroutine\b", "as a typed method"),
]


def generate() -> str:
    text = SOURCE.read_text(encoding="utf-8")
    for pattern, replacement in SUBSTITUTIONS:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    text = HEADER + text
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    fixed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--fix",
            "--select",
            "I,F401",
            "--quiet",
            "--stdin-filename",
            str(TARGET),
            "-",
        ],
        input=formatted,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return fixed or formatted


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(
                f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/unasync.py", file=sys.stderr
            )
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
