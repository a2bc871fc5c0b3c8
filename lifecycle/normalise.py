"""How identities are compared across systems. Pure: no Django.

Emails match case-insensitively and without surrounding blanks (as WooCommerce stores them);
phones by their digits, keeping a leading + so '(555) 555-5555' and '555.555.5555' are one phone.
"""

import re


def normalize_email(value) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def normalize_phone(value) -> str:
    value = value.strip() if isinstance(value, str) else ""
    digits = re.sub(r"\D", "", value)
    return f"+{digits}" if value.startswith("+") and digits else digits


def normalize_identity(kind, value) -> str:
    """An identity's stored form: emails and phones as above, any other id trimmed."""
    if kind == "email":
        return normalize_email(value)
    if kind == "phone":
        return normalize_phone(value)
    return str(value).strip()
