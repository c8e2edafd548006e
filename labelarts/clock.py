"""Time and id helpers shared by every layer."""

from __future__ import annotations

import functools
import os
import secrets
import string
import time

_ALPHANUM = string.ascii_letters + string.digits
# Bytes below this are mapped to _ALPHANUM by ``% 62`` without bias (248 = 4 * 62); the others
# are dropped (rejection sampling), so every character stays uniformly random. The mapping is a
# byte translation table (the dropped bytes become NUL, then removed): no Python per character.
_UNBIASED = 256 - 256 % len(_ALPHANUM)
_TO_ALPHANUM = bytes(ord(_ALPHANUM[b % len(_ALPHANUM)]) if b < _UNBIASED else 0 for b in range(256))


def now_ms() -> int:
    return int(time.time() * 1000)


def new_resource_id(length: int = 19) -> str:
    """A ModelArts-style resource id such as ``gfghHSokody6AJigS5A``: ``length`` characters
    drawn uniformly from A-Z a-z 0-9 with the operating system's CSPRNG (one ``urandom`` call
    for the whole id, not one per character: ids are made per imported sample)."""
    chars = b""
    while len(chars) < length:
        chars += os.urandom(length + 8).translate(_TO_ALPHANUM).replace(b"\0", b"")
    return chars[:length].decode("ascii")


_BASE36 = string.digits + string.ascii_lowercase  # ascending in byte order and in any collation
_TIME_CHARS = 9  # 36**9 ms: until the year 5138


def new_sample_id() -> str:
    """A sample id: 20 characters of A-Z a-z 0-9 like :func:`new_resource_id`, whose first 9
    are the creation time in milliseconds in base 36 (digits, then lower-case letters), the
    other 11 random (65 bits).

    New samples' ids sort after older ones, so the b-trees keyed by sample id (the samples'
    primary key, the labels' ``sample_id``) take a batch of new rows at their right edge
    instead of at random places: an import dirties a few pages per batch, not one per row
    (docs/benchmarks.md, "Time-ordered sample ids"). Base 36 in lower case keeps that order
    under PostgreSQL's linguistic collations as well as byte order."""
    return _time_prefix(time.time_ns() // 1_000_000) + new_resource_id(20 - _TIME_CHARS)


@functools.lru_cache(maxsize=1)  # ids made in the same millisecond share the prefix
def _time_prefix(ms: int) -> str:
    digits = []
    for _ in range(_TIME_CHARS):
        ms, digit = divmod(ms, 36)
        digits.append(_BASE36[digit])
    return "".join(reversed(digits))


def new_hex_id() -> str:
    """A 32-hex id, the shape of Huawei Cloud project and user ids."""
    return secrets.token_hex(16)
