"""Security tests: files confined when opened, projects kept apart, signed bodies, limits on abuse.

:class:`Flipper` swaps a folder for a symbolic link and back, as fast as it can, in a thread:
the attacker of issue 9 who can write into an import root. Race tests run a bounded number of
attempts against it, assert that no byte from outside ever comes back, and assert that the
link was really seen (so the race took place and the test could have failed).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["CANARY", "Flipper", "RaceTally", "race"]

CANARY = b"CANARY-outside-every-root-7f3a"


class Flipper:
    """Swap ``path`` (a real folder) for a symbolic link to ``target`` and back, in a thread.

    Each swap is two renames, so at any moment ``path`` is the folder, the link, or briefly
    missing. Leaving the ``with`` block stops the thread and puts the folder back.
    """

    def __init__(self, path: Path, target: Path) -> None:
        self.path = path
        self._aside = path.with_name(path.name + ".aside")
        self._link = path.with_name(path.name + ".link")
        self._link.symlink_to(target)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.flips = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            os.rename(self.path, self._aside)
            os.rename(self._link, self.path)  # now a link
            time.sleep(0)  # let the reader in while it is one...
            os.rename(self.path, self._link)
            os.rename(self._aside, self.path)  # the folder again
            time.sleep(0)  # ...and while it is the folder
            self.flips += 1

    def __enter__(self) -> Flipper:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()
        assert self.path.is_dir() and not self.path.is_symlink()
        self._link.unlink()


@dataclass
class RaceTally:
    attempts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def note(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def seen(**at_least: int) -> Callable[[RaceTally], bool]:
    """An ``enough`` for ``race``: each named outcome seen at least so many times."""
    return lambda tally: all(tally.outcomes.get(name, 0) >= count for name, count in at_least.items())


def race(
    attempt: Callable[[], str],
    *,
    flipper: Flipper,
    max_attempts: int,
    max_seconds: float = 20.0,
    enough: Callable[[RaceTally], bool] | None = None,
) -> RaceTally:
    """Call ``attempt`` (returns an outcome name; must itself assert that nothing leaked)
    while ``flipper`` runs: at most ``max_attempts`` times or ``max_seconds``, and stop early
    once ``enough`` says both sides of the race were seen."""
    tally = RaceTally()
    deadline = time.monotonic() + max_seconds
    with flipper:
        while tally.attempts < max_attempts and time.monotonic() < deadline:
            tally.note(attempt())
            tally.attempts += 1
            if enough is not None and enough(tally):
                break
    return tally
