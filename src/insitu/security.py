"""Secrets at rest and in flight: API key hashing, field encryption, HMAC tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from insitu.errors import InvalidInput

API_KEY_PREFIX = "insitu_"


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


class SecretBox:
    """Encrypts values stored in the database with a key derived from INSITU_SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret_key, "insitu:secret-box")))

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise InvalidInput(
                "a stored secret cannot be decrypted with the current INSITU_SECRET_KEY",
                fix="start insitu with the INSITU_SECRET_KEY it had when the secret was saved",
            ) from exc

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.decrypt(token))
        return result


class Signer:
    """HMAC signatures for short-lived tokens (local file URLs, OAuth state)."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._key = _derive(secret_key, f"insitu:signer:{purpose}")

    def signature(self, *parts: str) -> str:
        message = "\n".join(parts).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, signature: str, *parts: str) -> bool:
        return hmac.compare_digest(self.signature(*parts), signature)

    @staticmethod
    def expired(expires: int, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) > expires
