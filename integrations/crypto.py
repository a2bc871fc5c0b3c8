"""Secrets at rest: store credentials are encrypted in the database, never shown back in full.

The key comes from AFTERCARE_ENCRYPTION_KEY (a Fernet key) when set; otherwise it is derived from
SECRET_KEY, which then must not change or the stored secrets become unreadable (set the explicit
key in production so SECRET_KEY can rotate).
"""

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


def _fernet():
    key = os.environ.get("AFTERCARE_ENCRYPTION_KEY")
    if not key:
        key = base64.urlsafe_b64encode(hashlib.sha256(f"aftercare:{settings.SECRET_KEY}".encode()).digest())
    return Fernet(key)


def encrypt(value):
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(token):
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("Stored secret cannot be decrypted: was the encryption key changed?") from None


def mask(value):
    """What the console shows of a secret: enough to recognise it, never enough to use it."""
    return f"{value[:3]}…{value[-4:]}" if len(value) > 10 else "•" * len(value)


class Secret(str):
    """A decrypted secret: a str in every use, but its repr is the mask.

    Error pages (Django's technical 500 lists every frame's locals), debuggers and `%r` in logs
    print reprs: a secret read from the database or typed into a form shows as its mask there,
    in whatever frame it travels through. str(), f-strings and .encode() still give the value.
    """

    __slots__ = ()

    def __repr__(self):
        return f"Secret({mask(self)!r})"


class EncryptedTextField(models.TextField):
    """Plain text in Python (a Secret, masked in reprs), Fernet ciphertext in the database."""

    def from_db_value(self, value, expression, connection):
        return Secret(decrypt(value)) if value else ""

    def get_prep_value(self, value):
        return encrypt(value) if value else ""
