"""Production settings refuse to start without a real secret and pass Django's deploy checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    # DJANGO_ALLOW_ASYNC_UNSAFE: set for the browser tests in this process, never in a deployment.
    dropped = {"SECRET_KEY", "DJANGO_ENV", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "AFTERCARE_ENCRYPTION_KEY"}
    full_env = {k: v for k, v in os.environ.items() if k not in dropped}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_ENV="production", ALLOWED_HOSTS="console.example.com")
    assert result.returncode != 0
    assert "needs SECRET_KEY" in result.stderr


def test_production_refuses_the_development_key():
    result = _manage("check", DJANGO_ENV="production", SECRET_KEY="dev-only-insecure-key-not-for-production")
    assert result.returncode != 0 and "needs SECRET_KEY" in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_ENV="production",
                     SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="console.example.com",
                     AFTERCARE_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
