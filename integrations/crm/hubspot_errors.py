"""From what hubspot-api-client raises to CrmError, with a sentence a person can act on.

The client raises its own ApiException per API package (hubspot.crm.objects, .owners, ...: each
package has a distinct class), carrying status, body and headers; transport failures come through
as urllib3 exceptions, raw (the adapter disables urllib3's retries, see hubspot.NO_RETRY). Anything
else is not a CRM failure and is left alone.

A 429 without Retry-After still says how long to wait: the rest of its policy's window (ten
seconds for TEN_SECONDLY_ROLLING, one for SECONDLY, until midnight for DAILY: HubSpot resets the
daily count at midnight of the account's time zone, which the adapter does not know; UTC is assumed).
"""

import json
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime

import urllib3.exceptions as u3
from hubspot.crm import objects, owners, pipelines, properties
from hubspot.crm.associations import v4

from .base import CrmError

API_EXCEPTIONS = tuple(m.ApiException for m in (objects, owners, pipelines, properties, v4))
POLICY_WINDOWS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
AUTH = "HubSpot refused the token: check it in the CRM connection (a rotated or deleted private app token stops working at once)."


def seconds_to_midnight(now: datetime, zone=UTC) -> float:
    """Until the next midnight in `zone` (the account's: HubSpot's daily limit resets then)."""
    local = now.astimezone(zone)
    tomorrow = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return max(1.0, (tomorrow - local).total_seconds())


def _body(exc):
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": (raw or "")[:200]}
    return parsed if isinstance(parsed, dict) else {}


def _retry_after(headers, now):
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            return None


def scopes_message(missing):
    names = ", ".join(sorted(missing))
    plural = "s" if len(missing) > 1 else ""
    return (f"The HubSpot token lacks the scope{plural} {names}: add {'them' if plural else 'it'} to the private "
            "app in HubSpot and save its token in the CRM connection again.")


def from_response(exc, now=None, zone=UTC) -> CrmError:
    now = now or datetime.now(UTC)
    status, body, headers = exc.status, _body(exc), getattr(exc, "headers", None) or {}
    detail = body.get("message") or getattr(exc, "reason", None)
    if status == 0:  # the client's wrapper for TLS failures
        return CrmError("unreachable", f"HubSpot could not be reached securely: {exc.reason}", status=0, detail=detail)
    if status == 401:
        return CrmError("auth", AUTH, status=401, detail=detail)
    if status == 403:
        if body.get("category") == "MISSING_SCOPES":
            missing = [s for e in body.get("errors") or [] for s in (e.get("context") or {}).get("requiredGranularScopes", [])]
            return CrmError("scope", scopes_message(missing or ["(not named)"]), status=403, detail=detail,
                            missing_scopes=missing)
        return CrmError("auth", f"HubSpot refused this call for the token (403): {detail}", status=403, detail=detail)
    if status == 429:
        policy = body.get("policyName") or "TEN_SECONDLY_ROLLING"
        wait = _retry_after(headers, now)
        if wait is None:
            wait = seconds_to_midnight(now, zone) if policy == "DAILY" else POLICY_WINDOWS.get(policy, 10.0)
        what = "daily limit" if policy == "DAILY" else "rate limit"
        return CrmError("rate_limit", f"HubSpot's {what} was reached ({policy}); sending resumes in {wait:.0f} s.",
                        status=429, detail=detail, retry_after=wait, policy=policy)
    if status >= 500:
        return CrmError("server", f"HubSpot had a problem of its own ({status}); the change will be sent again.",
                        status=status, detail=detail)
    return CrmError("bad_request", f"HubSpot refused the request ({status}): {_readable(detail)}", status=status,
                    detail=detail)


def _readable(detail):
    """HubSpot puts a JSON list inside "Property values were not valid: [...]": keep its messages."""
    prefix = "Property values were not valid: "
    if isinstance(detail, str) and detail.startswith(prefix):
        try:
            problems = json.loads(detail[len(prefix):])
            return "invalid values: " + "; ".join(p.get("message", "") for p in problems if isinstance(p, dict)) + "."
        except ValueError:
            pass
    return detail


def translate(exc, now=None, timeout=None, zone=UTC):
    """The CrmError for `exc`, or None when it is not a CRM or transport failure."""
    if isinstance(exc, CrmError):
        return exc
    if isinstance(exc, API_EXCEPTIONS):
        return from_response(exc, now, zone)
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, u3.NewConnectionError):  # before timeouts: it subclasses ConnectTimeoutError
        return CrmError("unreachable", "HubSpot could not be reached (connection refused or no route); "
                                       "the change will be sent again.", detail=str(exc))
    if isinstance(exc, (u3.TimeoutError, TimeoutError)):
        limit = f" within {timeout[1] if isinstance(timeout, tuple) else timeout:g} s" if timeout else ""
        return CrmError("timeout", f"HubSpot did not answer{limit}; the change will be sent again.", detail=str(exc))
    if isinstance(exc, (u3.HTTPError, ConnectionError)):
        return CrmError("unreachable", "The connection to HubSpot broke off; the change will be sent again.",
                        detail=str(exc))
    if isinstance(exc, ValueError) and "must not be `None`" in str(exc):
        return CrmError("server", f"HubSpot's answer could not be read: {exc}", retryable=False, detail=str(exc))
    return None
