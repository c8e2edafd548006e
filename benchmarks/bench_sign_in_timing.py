"""Sign-in time for a known user name with a wrong password against an unknown name.

Issue 9 measured 190 ms against 37 ms before unknown names were checked against a dummy
argon2 hash: the answer's time told which names exist. This prints the median time of
``AuthService.issue_token`` failing for each kind (in-process, SQLite, sign-in limits raised
so that nothing is refused), alternating the two so that machine load hits both alike, and
their ratio (1.0 means the time tells nothing).

    python -m benchmarks.bench_sign_in_timing --rounds 30
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from labelarts.config import Settings
from labelarts.container import build_services
from labelarts.errors import UnauthorizedError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="sign-ins of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labelarts-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            sign_in_max_failures_per_user=10**6,
            sign_in_max_failures_per_address=10**6,
        )
        services = build_services(settings)
        try:
            services.users.create_user("known", project_id=None, password="the-right-password")
            timings: dict[str, list[float]] = {"known name, wrong password": [], "unknown name": []}
            for i in range(args.rounds):
                pair = [("known name, wrong password", "known"), ("unknown name", f"nobody-{i}")]
                for label, name in pair if i % 2 else pair[::-1]:  # each goes first half the time
                    start = time.perf_counter()
                    with contextlib.suppress(UnauthorizedError):
                        services.auth.issue_token(
                            user_name=name, password="wrong", project_id=None, client_address="bench"
                        )
                    timings[label].append(time.perf_counter() - start)
                print(f"\r{i + 1}/{args.rounds}", end="", flush=True)
            print()
        finally:
            services.close()
    medians = {label: statistics.median(values) * 1000 for label, values in timings.items()}
    for label, median in medians.items():
        print(f"{label:28s} median {median:8.1f} ms over {args.rounds}")
    ratio = medians["unknown name"] / medians["known name, wrong password"]
    print(f"unknown / known ratio         {ratio:8.2f}")


if __name__ == "__main__":
    main()
