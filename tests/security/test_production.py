"""Production settings as a deployment starts them (issue 16, item 6): cookies only over HTTPS and out
of scripts' reach, the Content-Security-Policy and HSTS on every page. (`check --deploy` with these
settings: tests/console/test_settings.py.)"""

import json

from tests.security.manage import manage, production_env

# Run in the production process: a page's headers and cookies as a browser over HTTPS receives them.
PROBE = """
import json
from django.conf import settings
from django.test import Client, override_settings
# Static files unbuilt (collectstatic is the deployment's step, not this test's): served as in development.
static = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
with override_settings(STORAGES=static):
    response = Client().get("/admin/login/", secure=True, HTTP_HOST="console.example.com")
csrf = response.cookies["csrftoken"]
print(json.dumps({"status": response.status_code, "csp": response.get("Content-Security-Policy", ""),
                  "hsts": response.get("Strict-Transport-Security", ""), "csrf_secure": bool(csrf["secure"]),
                  "csrf_samesite": csrf["samesite"], "session_secure": settings.SESSION_COOKIE_SECURE,
                  "session_httponly": settings.SESSION_COOKIE_HTTPONLY}))
"""


def test_cookies_are_https_only_and_every_page_carries_the_policy_and_hsts():
    result = manage("shell", "-c", PROBE, **production_env())
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    assert seen["csrf_secure"] and seen["csrf_samesite"] == "Lax"
    assert seen["session_secure"] and seen["session_httponly"]
    assert "script-src 'self' 'unsafe-eval'" in seen["csp"] and "frame-ancestors 'none'" in seen["csp"]
    assert "object-src 'none'" in seen["csp"] and "'unsafe-inline'" not in seen["csp"].split("style-src")[0]
    assert seen["hsts"].startswith("max-age=31536000")
