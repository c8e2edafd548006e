"""A bad value in a ``LABELARTS_*`` setting stops ``serve`` and ``worker`` before they start,
with one line per bad setting that names its variable and says what is allowed (exit 2, no
traceback, and a secret's value never printed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import assert_failed, cli_env, free_port, run_cli

CASES = [
    ("LABELARTS_DB_POOL_SIZE", "lots", "valid integer"),
    ("LABELARTS_DB_POOL_SIZE", "-3", "greater than or equal to 0"),
    ("LABELARTS_DB_POOL_TIMEOUT_SECONDS", "0", "greater than 0"),
    ("LABELARTS_S3_ADDRESSING_STYLE", "sideways", "'auto', 'path' or 'virtual'"),
    ("LABELARTS_S3_ENDPOINT_URL", "ftp://s3.example:21", "http(s)://host[:port]"),
    ("LABELARTS_S3_PRESIGN", "maybe", "valid boolean"),
    ("LABELARTS_SMTP_PORT", "99999", "less than or equal to 65535"),
    ("LABELARTS_SMTP_SECURITY", "tls1.0", "'starttls', 'ssl' or 'none'"),
    ("LABELARTS_SMTP_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
]


@pytest.mark.parametrize(("variable", "value", "allowed"), CASES)
def test_a_bad_setting_stops_serve_with_its_name(
    tmp_path: Path, variable: str, value: str, allowed: str
) -> None:
    args = ["serve", "--data-dir", str(tmp_path), "--port", str(free_port())]
    result = run_cli(*args, env=cli_env(**{variable: value}), timeout=120)
    assert_failed(result, 2, variable, allowed)
    assert not (tmp_path / "initial-credentials.json").exists()  # nothing was started


def test_a_bad_setting_stops_a_worker_with_its_name(tmp_path: Path) -> None:
    env = cli_env(LABELARTS_DB_POOL_SIZE="-3", LABELARTS_SMTP_PORT="0")
    result = run_cli("worker", "--data-dir", str(tmp_path), env=env, timeout=120)
    # Every bad setting at once, not the first only.
    assert_failed(result, 2, "LABELARTS_DB_POOL_SIZE", "LABELARTS_SMTP_PORT")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("0", "greater than 0"), ("7200", "less than or equal to 3600"), ("soon", "valid number")],
)
def test_a_worker_poll_out_of_range_stops_the_worker(tmp_path: Path, value: str, allowed: str) -> None:
    """A worker started on its own finds tasks only by its poll: never every 0 s, nor hours apart."""
    env = cli_env(LABELARTS_WORKER_POLL_SECONDS=value)
    result = run_cli("worker", "--data-dir", str(tmp_path), env=env, timeout=120)
    assert_failed(result, 2, "LABELARTS_WORKER_POLL_SECONDS", allowed)
