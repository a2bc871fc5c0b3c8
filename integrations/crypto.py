"""Secrets at rest: store credentials are encrypted in the database, never shown back in full.

The key is AFTERCARE_ENCRYPTION_KEY (a Fernet key), required in production (console/settings.py
refuses to start without it). Outside production an unset key is derived from SECRET_KEY, so a
fresh clone needs nothing, but changing SECRET_KEY there makes the stored secrets unreadable.
Keys named in AFTERCARE_PREVIOUS_ENCRYPTION_KEYS are still read, never written: a rotation sets
the new key with the old one as previous, re-encrypts what is stored (`manage.py
rotate_encryption_key`), then drops the previous key.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.db.models.functions import Cast


def derived_key(secret_key):
    """The key of an install without AFTERCARE_ENCRYPTION_KEY: a hash of its SECRET_KEY."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"aftercare:{secret_key}".encode()).digest()).decode()


def keys():
    """The current key first, then the previous ones still read."""
    current = settings.AFTERCARE_ENCRYPTION_KEY or derived_key(settings.SECRET_KEY)
    return (current, *settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS)


@lru_cache(maxsize=4)  # one Fernet per key, not per value (settings overridden in tests change the keys)
def _fernets(all_keys):
    current = Fernet(all_keys[0])
    return current, MultiFernet([current, *(Fernet(key) for key in all_keys[1:])])


def _fernet():
    return _fernets(keys())[1]


def encrypt(value):
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(token):
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("Stored secret cannot be decrypted: was the encryption key changed?") from None


def reencrypt(token):
    """The token encrypted under the current key, or None when it already is; ValueError when no
    key reads it (its secret must be entered again)."""
    current, every = _fernets(keys())
    try:
        current.decrypt(token.encode())
        return None
    except InvalidToken:
        pass
    try:
        return every.rotate(token.encode()).decode()
    except InvalidToken:
        raise ValueError("no current or previous key decrypts it") from None


def encrypted_fields():
    """(model, field) for every encrypted column of every installed model, history tables included:
    what a key rotation must re-encrypt."""
    return [(model, field) for model in apps.get_models() for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField)]


def stored_tokens(model, field, for_update=False):
    """(pk, token) for each row with a secret in the column, the token as stored (not decrypted)."""
    rows = model._default_manager.select_for_update() if for_update else model._default_manager.all()
    return (rows.exclude(**{field.attname: ""}).order_by("pk")
            .values_list("pk", Cast(field.attname, output_field=models.TextField())))


def unreadable_secrets():
    """'<model> <pk> <field>' for each stored secret no current or previous key decrypts. Tables not
    created yet are skipped: `migrate` runs the database checks before it creates them."""
    tables = set(connection.introspection.table_names())
    return [f"{model._meta.label} {pk} {field.name}" for model, field in encrypted_fields()
            if model._meta.db_table in tables for pk, token in stored_tokens(model, field) if not _reads(token)]


def _reads(token):
    try:
        _fernet().decrypt(token.encode())
        return True
    except InvalidToken:
        return False


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
