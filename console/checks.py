"""The project's own system checks: what `manage.py check --deploy` warns about beyond Django's.

Production refuses to start without an explicit encryption key (console/settings.py); these say
the same of settings that are not production yet, so a deployment being prepared learns it
before the first start, and `check --database default` finds stored secrets no key reads (a key
changed without `rotate_encryption_key`), which make every delivery of their store fail.
"""

from django.conf import settings
from django.core.checks import Error, Info, Tags, Warning, register

from integrations import crypto

ROTATE = "python manage.py rotate_encryption_key --help"


@register(Tags.security, deploy=True)
def encryption_key(app_configs, **kwargs):
    messages = []
    if not settings.AFTERCARE_ENCRYPTION_KEY:
        messages.append(Warning(
            "AFTERCARE_ENCRYPTION_KEY is not set: stored secrets (shop keys, CRM tokens, webhook secrets) are "
            "encrypted with a key derived from SECRET_KEY, so changing SECRET_KEY makes them unreadable.",
            hint=f"Set AFTERCARE_ENCRYPTION_KEY to a Fernet key; secrets already stored move to it as in {ROTATE}.",
            id="aftercare.W001"))
    if settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS:
        messages.append(Info(
            "AFTERCARE_PREVIOUS_ENCRYPTION_KEYS is set: a key rotation is under way.",
            hint="Run python manage.py rotate_encryption_key, then remove the previous keys.",
            id="aftercare.I001"))
    return messages


@register(Tags.database)
def readable_secrets(app_configs, databases=None, **kwargs):
    if not databases:
        return []
    return [Error(f"{row}: the stored secret cannot be decrypted with the current or previous keys.",
                  hint=f"Name the key it was encrypted with in AFTERCARE_PREVIOUS_ENCRYPTION_KEYS and run {ROTATE}, "
                       "or enter the secret again.", id="aftercare.E001")
            for row in crypto.unreadable_secrets()]
