"""Rate limits on password checks, per user name and per client address, kept in the database.

Every instance behind a balancer shares the ``sign_in_failures`` table, so the limits hold
for the whole deployment. A password check first reserves one row per key (user name,
client address), which counts as a failure until the check succeeds and removes it; a key
with more than its limit of rows in the window gets 429 without any password being
verified. Reserving before counting bounds concurrent floods too: at most ``limit`` checks of
one key can be in progress or have failed within the window.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from labelarts.clock import now_ms
from labelarts.errors import TooManyRequestsError
from labelarts.storage.db import Database
from labelarts.storage.db.models import SignInFailure


@dataclass(frozen=True)
class SignInKeys:
    user: str
    address: str


def _key_hash(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


@dataclass(frozen=True)
class Reservation:
    ids: tuple[int, ...]


class SignInLimiter:
    def __init__(self, db: Database, *, max_per_user: int, max_per_address: int, window_seconds: int) -> None:
        self._db = db
        self.max_per_user = max_per_user
        self.max_per_address = max_per_address
        self.window_ms = window_seconds * 1000

    def _limits(self, keys: SignInKeys) -> dict[str, int]:
        return {
            _key_hash("user", keys.user): self.max_per_user,
            _key_hash("address", keys.address): self.max_per_address,
        }

    def _refuse_if_over(self, limits: dict[str, int], *, now: int, allowed_extra: int) -> None:
        cutoff = now - self.window_ms
        with self._db.session() as session:
            rows = session.execute(
                select(SignInFailure.key_hash, func.count(), func.min(SignInFailure.at_ms))
                .where(SignInFailure.key_hash.in_(list(limits)), SignInFailure.at_ms > cutoff)
                .group_by(SignInFailure.key_hash)
            ).all()
        for key_hash, count, oldest in rows:
            if count > limits[key_hash] - 1 + allowed_extra:
                retry_after = max(1, math.ceil((oldest + self.window_ms - now) / 1000))
                raise TooManyRequestsError(
                    "Excessive number of requests to sign in: too many wrong passwords for this "
                    f"user or from this address. Retry after {retry_after} s.",
                    retry_after=retry_after,
                )

    def reserve(self, keys: SignInKeys) -> Reservation:
        """Count one check against each key, or raise 429 if a key is over its limit."""
        limits = self._limits(keys)
        now = now_ms()
        # Cheap refusal first: a flood over the limit writes nothing.
        self._refuse_if_over(limits, now=now, allowed_extra=0)
        with self._db.session() as session:
            session.execute(delete(SignInFailure).where(SignInFailure.at_ms <= now - self.window_ms))
            rows = [SignInFailure(key_hash=key_hash, at_ms=now) for key_hash in limits]
            session.add_all(rows)
            session.flush()
            reservation = Reservation(tuple(row.id for row in rows))
        try:
            # Our own rows are counted now; concurrent checks see each other's.
            self._refuse_if_over(limits, now=now, allowed_extra=1)
        except TooManyRequestsError:
            self.release(reservation)
            raise
        return reservation

    def release(self, reservation: Reservation) -> None:
        """The check succeeded (or was refused): it is not a failure."""
        with self._db.session() as session:
            session.execute(delete(SignInFailure).where(SignInFailure.id.in_(reservation.ids)))
