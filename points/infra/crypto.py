"""Encryption at rest and keyed lookup hashes for personal data.

ID numbers, names and phone numbers are stored as Fernet tokens under
`DATA_KEY`; a MultiFernet lets a new key encrypt while older keys still decrypt,
so the key can be rotated without downtime. Lookups use an HMAC of the
normalised value so equal ID numbers find each other without decrypting.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DataCipher:
    def __init__(self, keys: list[str], hash_key: str | None = None) -> None:
        if not keys:
            raise ValueError("DATA_KEY is empty")
        self._fernet = MultiFernet([Fernet(_fernet_key(k)) for k in keys])
        # The lookup hash must not change when the encryption key rotates, or every
        # stored hash would need rewriting: it is keyed by DATA_HASH_KEY when given,
        # else by the *oldest* DATA_KEY listed (keep it last while rotating).
        secret = hash_key or keys[-1]
        self._hash_key = hashlib.sha256(b"lookup:" + secret.encode()).digest()

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:  # pragma: no cover - means a lost key
            raise ValueError("cannot decrypt personal data with the configured keys") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key (MultiFernet.rotate)."""
        return self._fernet.rotate(token.encode()).decode()

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()


def _fernet_key(secret: str) -> bytes:
    """Accept a Fernet key as given, or derive one from any other secret string."""
    try:
        raw = base64.urlsafe_b64decode(secret.encode())
        if len(raw) == 32:
            return secret.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def hash_token(token: str) -> str:
    """Unkeyed SHA-256 for high-entropy secrets (API keys, refresh tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()
