"""What a long-running process (the API, a task worker) does once its start-up is done."""

from __future__ import annotations

import gc


def settle_long_lived_objects() -> None:
    """Leave what start-up built (modules, models, services: 250-350k objects with the ML
    libraries) out of the collector's full collections: ``gc.freeze``, after collecting what is
    already garbage. Each full collection walked them all, 130-200 ms with the GIL held: in the
    API about once every few hundred requests, stopping every request meanwhile; in a worker
    four or five times in a 20,000-file import (docs/benchmarks.md, "Issue 10, 2026-12-05
    afternoon"). Objects made later are collected as before."""
    gc.collect()
    gc.freeze()
