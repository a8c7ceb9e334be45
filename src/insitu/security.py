"""Secrets at rest and in flight: API key hashing, field encryption, HMAC tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any, TypeAlias

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from insitu.errors import InvalidInput

API_KEY_PREFIX = "insitu_"


MIN_SECRET_KEY_LENGTH = 32
GOOD_SECRET_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def secret_key_weakness(key: str) -> str | None:
    """Why ``key`` is too weak to protect production secrets, or None if it is strong enough."""
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"it is {len(key)} characters long; at least {MIN_SECRET_KEY_LENGTH} are needed"
    if len(set(key)) < 8:
        return f"it uses only {len(set(key))} distinct characters"
    for period in range(1, len(key) // 2 + 1):
        if len(key) % period == 0 and key[:period] * (len(key) // period) == key:
            return f"it repeats the same {period} characters"
    return None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # The key carries 256 random bits, so a fast hash cannot be brute-forced; a slow KDF
    # would only cost every request.
    return hashlib.sha256(key.encode()).hexdigest()


def new_external_id() -> str:
    return secrets.token_hex(20)


def _derive(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()


# One key, or a ring whose first key encrypts and signs; any key decrypts and verifies.
Keyring: TypeAlias = str | Sequence[str]


def _ring(keys: Keyring) -> tuple[str, ...]:
    ring = (keys,) if isinstance(keys, str) else tuple(keys)
    if not ring:
        raise ValueError("a keyring needs at least one secret key")
    return ring


class SecretBox:
    """Encrypts values stored in the database with keys derived from the secret keyring.

    The first key of ``INSITU_SECRET_KEYS`` (or ``INSITU_SECRET_KEY`` alone) encrypts; every
    key decrypts, so a new key can be put first while stored secrets still open with the old
    one until ``insitu secrets rotate`` has re-encrypted them.
    """

    def __init__(self, secret_keys: Keyring) -> None:
        fernets = [
            Fernet(base64.urlsafe_b64encode(_derive(key, "insitu:secret-box")))
            for key in _ring(secret_keys)
        ]
        self._primary = fernets[0]
        self._fernet = MultiFernet(fernets)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise _undecryptable() from exc

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is already encrypted with the first key of the ring."""
        try:
            self._primary.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key, whichever key of the ring encrypted it."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise _undecryptable() from exc

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.decrypt(token))
        return result


def _undecryptable() -> InvalidInput:
    return InvalidInput(
        "a stored secret cannot be decrypted with any key of the current keyring",
        fix="start insitu with the key it had when the secret was saved, e.g. "
        "INSITU_SECRET_KEYS=new-key,old-key, then run: insitu secrets rotate",
    )


def same_secret(expected: str, given: str) -> bool:
    """Whether ``given`` is ``expected`` (a signature, token or key), in constant time.

    Compared as UTF-8 bytes: compare_digest refuses ``str`` with non-ASCII characters, which a
    forged value may hold, and must answer False for it, not raise.
    """
    return hmac.compare_digest(expected.encode(), given.encode())


class Signer:
    """HMAC signatures for short-lived tokens (local file URLs, OAuth state).

    Signs with the first key of the ring and accepts a signature made with any of them, so
    URLs and consent links handed out just before a key rotation keep working until they expire.
    """

    def __init__(self, secret_keys: Keyring, purpose: str) -> None:
        self._keys = [_derive(key, f"insitu:signer:{purpose}") for key in _ring(secret_keys)]

    def signature(self, *parts: str) -> str:
        return self._sign(self._keys[0], parts)

    def verify(self, signature: str, *parts: str) -> bool:
        # Every key is tried (no early exit), so the time taken says nothing about which matched.
        matches = [same_secret(self._sign(key, parts), signature) for key in self._keys]
        return any(matches)

    @staticmethod
    def _sign(key: bytes, parts: tuple[str, ...]) -> str:
        digest = hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    @staticmethod
    def expired(expires: int, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) > expires
