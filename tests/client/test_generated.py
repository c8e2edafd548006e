"""Files generated from the async client stay in step with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("script", ["scripts/unasync.py", "scripts/client_docs.py"])
def test_generated_file_is_up_to_date(script: str) -> None:
    """The sync client (scripts/unasync.py) and docs/client.md (scripts/client_docs.py)."""
    done = subprocess.run([sys.executable, script, "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
