"""Time and id helpers shared by every layer."""

from __future__ import annotations

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


def new_hex_id() -> str:
    """A 32-hex id, the shape of Huawei Cloud project and user ids."""
    return secrets.token_hex(16)
