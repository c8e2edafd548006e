"""Password hashing (argon2) and at-rest encryption of secret keys (Fernet)."""

from __future__ import annotations

import base64

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
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

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            # Stored with another server secret: the operator changed secret_key.
            raise ValueError("secret key cannot be decrypted with this server secret") from exc
