"""Time and id helpers shared by every layer."""

from __future__ import annotations

import secrets
import string
import time

_ALPHANUM = string.ascii_letters + string.digits


def now_ms() -> int:
    return int(time.time() * 1000)


def new_resource_id(length: int = 19) -> str:
    """A ModelArts-style resource id such as ``gfghHSokody6AJigS5A``."""
    return "".join(secrets.choice(_ALPHANUM) for _ in range(length))


def new_hex_id() -> str:
    """A 32-hex id, the shape of Huawei Cloud project and user ids."""
    return secrets.token_hex(16)
