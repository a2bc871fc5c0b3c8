"""Running manage.py in a process of its own, with the environment a deployment would give it."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
# What a test run sets that a deployment never does, or that each test sets for itself.
DROPPED = {"SECRET_KEY", "DJANGO_ENV", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "AFTERCARE_ENCRYPTION_KEY",
           "AFTERCARE_PREVIOUS_ENCRYPTION_KEYS"}


def production_env(**env):
    """What production needs to start: a real SECRET_KEY, an encryption key and a host name."""
    return {"DJANGO_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(64),
            "AFTERCARE_ENCRYPTION_KEY": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "console.example.com", **env}


def manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=120)
