"""Field encryption for complainant identity (Fernet; several keys allow rotation) and masking."""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _keys() -> list[bytes]:
    configured = current_app.config.get("FIELD_ENCRYPTION_KEYS") or ""
    keys = [k.strip().encode() for k in configured.split(",") if k.strip()]
    if not keys:
        # Development and tests: derived from SECRET_KEY. Production refuses to start without real keys.
        digest = hashlib.sha256(b"field-encryption:" + current_app.config["SECRET_KEY"].encode()).digest()
        keys = [base64.urlsafe_b64encode(digest)]
    return keys


def _fernet() -> MultiFernet:
    """The app's MultiFernet, built once per key configuration (imports call this per row)."""
    config = current_app.config
    source = (config.get("FIELD_ENCRYPTION_KEYS") or "", config["SECRET_KEY"])
    cached = current_app.extensions.get("tracker_fernet")
    if cached is None or cached[0] != source:
        cached = (source, MultiFernet([Fernet(k) for k in _keys()]))
        current_app.extensions["tracker_fernet"] = cached
    return cached[1]


def encrypt(value: str | None) -> str | None:
    if not value:
        return None
    return _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str | None) -> str | None:
    """The clear text, or None for no value. Raises InvalidToken when no configured key fits."""
    if not token:
        return None
    return _fernet().decrypt(token.encode("ascii")).decode("utf-8")


def rotate(token: str | None) -> str | None:
    """Re-encrypt TOKEN with the first (newest) key."""
    if not token:
        return token
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of VALUE under the app secret, for things checked but never shown (query PINs)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def mask_phone(phone: str | None) -> str:
    """138****5678 for a mobile number; the last four digits otherwise."""
    if not phone:
        return ""
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "****"


def mask_name(name: str | None) -> str:
    """张* / 欧阳** : the family name only."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


__all__ = ["InvalidToken", "decrypt", "encrypt", "keyed_hash", "mask_name", "mask_phone", "rotate"]
