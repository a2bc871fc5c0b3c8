"""The CRM adapter interface: what the outbox and the pulls call, whatever the CRM behind it.

Plain frozen values in and out, one error type with a kind a caller can act on. Nothing here knows
HubSpot; hubspot.py implements it. Every write is an upsert keyed by something the console owns
(a customer's email, an order's key), so sending a change twice leaves the CRM as once: callers may
retry a whole call after any error.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# What went wrong, as far as a caller must tell: auth and scope need a person; rate_limit waits
# `retry_after`; server, timeout and unreachable are worth retrying later; bad_request is not.
KINDS = frozenset({"auth", "scope", "rate_limit", "server", "timeout", "unreachable", "bad_request"})
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "unreachable"})


class CrmError(Exception):
    """A CRM call that failed after the adapter's own retries.

    `message` is a sentence for a person (it ends up in sync_failure); `retry_after` is how many
    seconds to wait before trying again, when the CRM said or the limit's window tells;
    `missing_scopes` names the scopes a token lacks (kind "scope"); `status` and `detail` keep what
    the CRM answered, for the logs.
    """

    def __init__(self, kind, message, *, retryable=None, retry_after=None, status=None, detail=None,
                 missing_scopes=(), policy=None):
        if kind not in KINDS:
            raise ValueError(f"unknown CrmError kind {kind!r}")
        super().__init__(message)
        self.kind, self.message = kind, message
        self.retryable = kind in RETRYABLE if retryable is None else retryable
        self.retry_after, self.status, self.detail = retry_after, status, detail
        self.missing_scopes = tuple(sorted(missing_scopes))
        self.policy = policy  # the rate limit hit (HubSpot's policyName), for rate_limit

    def __repr__(self):
        return f"CrmError({self.kind!r}, {self.message!r}, retryable={self.retryable}, retry_after={self.retry_after})"


@dataclass(frozen=True)
class Owner:
    id: str  # what the CRM's owner property takes (HubSpot: the owner's id, not its userId)
    email: str
    first_name: str = ""
    last_name: str = ""
    archived: bool = False


@dataclass(frozen=True)
class StageOption:
    value: str  # internal value (custom HubSpot stages have numeric ones)
    label: str
    order: int
    closed: bool = False  # deal stages: won or lost


@dataclass(frozen=True)
class DealPipeline:
    id: str
    label: str
    stages: tuple[StageOption, ...]


@dataclass(frozen=True)
class ContactChange:
    """Properties to set on the contact with this email. `stage_backward`: the lifecycle stage moves
    to an earlier one, which HubSpot only accepts after clearing it (the adapter sends both)."""
    email: str
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    stage_backward: bool = False


@dataclass(frozen=True)
class ContactResult:
    """The contact after the write (`email` lower-cased and stripped, as HubSpot keeps it).
    `stage_ignored`: the CRM kept a later lifecycle stage than the one sent (a backward move sent
    without stage_backward); send it again with stage_backward=True."""
    email: str
    id: str
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    stage_ignored: bool = False


@dataclass(frozen=True)
class DealChange:
    key: str  # the console's order key: the deal's unique property
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    contact_email: str | None = None


@dataclass(frozen=True)
class DealResult:
    key: str
    id: str
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    contact_id: str | None = None


@dataclass(frozen=True)
class ItemError:
    key: str  # the change's email or order key
    message: str
    retryable: bool = False  # sending it again later may work (a deal whose contact is not there yet)


@dataclass(frozen=True)
class BatchResult:
    ok: list = field(default_factory=list, hash=False)  # ContactResult / DealResult
    errors: list = field(default_factory=list, hash=False)  # ItemError: refused items, not retried


@dataclass(frozen=True)
class Page:
    items: list = field(hash=False)
    next_cursor: str | None = None


@dataclass(frozen=True)
class Changed:
    """A record the CRM modified at `modified_at`; (modified_at, id) is the cursor to resume after it."""
    id: str
    modified_at: datetime
    properties: Mapping[str, str | None] = field(default_factory=dict, hash=False)
    associations: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Activity:
    """An email, call, meeting, note or task on the CRM's timeline. Resume after it with
    (modified_at, cursor): ids of different types are not comparable, so the cursor names the type."""
    id: str
    type: str  # "note", "call", "email", "meeting", "task"
    modified_at: datetime
    occurred_at: datetime | None
    contact_ids: tuple[str, ...] = ()
    subject: str | None = None
    body: str | None = None
    owner_id: str | None = None

    @property
    def cursor(self) -> str:
        return f"{self.type}:{self.id}"


class CrmAdapter(Protocol):
    """One connection to one CRM account. Calls are blocking; the caller serializes a connection's
    calls (one worker per connection), which is what keeps the pacing exact."""

    def check(self) -> set[str]:
        """The scopes granted to the token; CrmError "auth" for a bad token, "scope" naming the missing ones."""

    def account_time_zone(self) -> str:
        """The account's time zone name ("US/Eastern"), whose midnight ends the daily cap's day; "" if unknown."""

    def owners(self) -> list[Owner]:
        """Every owner, active and archived (all pages)."""

    def lifecycle_stages(self) -> list[StageOption]:
        """The account's lifecycle stages in their order (accounts customise them)."""

    def deal_key_ensure(self) -> bool:
        """Make sure deals carry the console's order key property (unique; created when missing: True)."""

    def deal_pipelines(self) -> list[DealPipeline]:
        """Deal pipelines with their stages in order."""

    def upsert_contacts(self, changes: Sequence[ContactChange]) -> BatchResult:
        """Create or update contacts by email; refused items come back as errors, not raised."""

    def upsert_deals(self, changes: Sequence[DealChange]) -> BatchResult:
        """Create or update one deal per order key, linked to its contact."""

    def changed(self, object_type: str, since: datetime, after_id: str | None = None,
                properties: Sequence[str] = (), associations: Sequence[str] = (),
                until: datetime | None = None) -> Iterator[list[Changed]]:
        """Records modified at or after `since` (after `after_id` at exactly `since`), in
        (modified_at, id) order, in lists; each list's last item is a cursor to save."""

    def activities(self, since: datetime, after_id: str | None = None, types: Sequence[str] | None = None,
                   until: datetime | None = None) -> Iterator[list[Activity]]:
        """Activities modified since the cursor (after_id: an Activity.cursor), oldest first."""
