"""Password hashing (argon2) and at-rest encryption of secret keys (Fernet)."""

from __future__ import annotations

import base64
import secrets
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_dummy_lock = threading.Lock()
_dummy_hash: str | None = None


def dummy_password_hash() -> str:
    """A hash of a random password, made once with the same parameters as every new hash."""
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(32))
        return _dummy_hash


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; ``None`` (no such user) is checked against a dummy hash and fails.

    Unknown and known user names so take the same path and the same argon2 work: the time
    of an answer does not tell which names exist.
    """
    try:
        matches = _hasher.verify(password_hash or dummy_password_hash(), password)
        return matches and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def derive_key(server_secret: bytes, purpose: bytes) -> bytes:
    """Derive an independent 32-byte key per purpose from the one server secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(server_secret)


class SecretBox:
    """Encrypts the AK/SK secret keys kept in the database."""

    def __init__(self, server_secret: bytes) -> None:
        key = derive_key(server_secret, b"labelarts/secret-keys")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        # A sealed text always opens to the same secret: every signed request opens its
        # key's, so each is decrypted once (failures are not kept). The row is still read
        # on every request, so a deleted or replaced key stops working at once.
        self._opened = lru_cache(maxsize=1024)(self._decrypt)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._opened(sealed)

    def _decrypt(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            # Stored with another server secret: the operator changed secret_key.
            raise ValueError("secret key cannot be decrypted with this server secret") from exc
