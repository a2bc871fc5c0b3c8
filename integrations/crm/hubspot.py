"""The CRM adapter for HubSpot, on hubspot-api-client, pointed at any base URL (HubSpot or the sandbox).

How it keeps HubSpot's rules (see the issue and HubSpot's docs):
  * Contacts are upserted by email in batches of at most 100 (batch *update* by email is refused by
    HubSpot); a backward lifecycle move is two ordered requests: clear the stage, then set it.
  * Deals are upserted by the console's order key (a unique property) and linked to their contact;
    a deal's stage is sent with its pipeline, as HubSpot wants both (a stage id names one pipeline;
    the pipelines are read once per adapter, and again when a stage is not among them).
  * One bad value fails a whole HubSpot batch (400): the batch is split in halves until the bad
    items stand alone, so the others still land; those come back as ItemError.
  * Every request waits for the pacer (under 90% of the tier's ten-second limit, 4 searches a
    second). A 429 holds the pacer for Retry-After or its policy's window and is sent again.
  * Retries are ours alone (urllib3's are off: the client would otherwise retry connection errors on
    its own and never a POST): every call here is idempotent (upserts keyed by the console's
    email / order key, reads, default associations), so 5xx, timeouts and broken connections are
    retried with backoff, MAX_RETRIES times, then raised as a retryable CrmError.
  * Incremental pulls are keyset scans on the modification stamp (windows.py).
"""

import json
import time
from datetime import UTC, datetime, timedelta

import hubspot
from hubspot.crm import objects as o
from hubspot.crm.associations import v4
from hubspot.crm.properties import PropertyCreate
from urllib3.util.retry import Retry

from . import hubspot_errors
from .base import BatchResult, ContactResult, CrmError, DealPipeline, DealResult, ItemError, Owner, StageOption
from .hubspot_pulls import PullsMixin
from .pacing import Pacer, backoff

DEFAULT_BASE_URL = "https://api.hubapi.com"
BATCH_LIMIT = 100  # HubSpot's batch endpoints take at most 100 inputs
TIMEOUT = (5.0, 30.0)  # connect, read (seconds): a batch of 100 upserts can take HubSpot a few seconds
MAX_RETRIES = 4  # 5xx/timeouts: 0.5 + 1 + 2 + 4 s of backoff before giving up to the caller
MAX_RATE_LIMIT_WAITS = 5  # 429s waited out in one call; more means someone else spends our budget
NO_RETRY = Retry(total=False)  # urllib3 raises at once; _call decides
# What the sync calls need: contacts and deals both ways, owners, the lifecycle and deal properties, email
# bodies. Creating the deal property aftercare_order_key once needs crm.schemas.deals.write too (deal_key_ensure).
REQUIRED_SCOPES = frozenset({"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.deals.read",
                             "crm.objects.deals.write", "crm.objects.owners.read", "crm.schemas.contacts.read",
                             "crm.schemas.deals.read", "sales-email-read"})
TOKEN_INFO = "/oauth/v2/private-apps/get/access-token-info"
ACCOUNT_DETAILS = "/account-info/v3/details"
KEY_BY_HAND = ("in HubSpot (Settings › Properties › Deal properties: internal name aftercare_order_key, "
               "single-line text, \"Require unique values\" on), then check the connection again.")


class HubSpotAdapter(PullsMixin):
    def __init__(self, token, *, base_url=DEFAULT_BASE_URL, tier="professional", pacer=None, clock=time.monotonic,
                 sleep=time.sleep, now=lambda: datetime.now(UTC), timeout=TIMEOUT, max_retries=MAX_RETRIES,
                 page_size=200, index_lag_seconds=30.0, deal_key_property="aftercare_order_key"):
        self.token, self.base_url = token, base_url.rstrip("/")
        self.pacer = pacer or Pacer.for_tier(tier, clock=clock, sleep=sleep)
        self.sleep, self.now, self.timeout, self.max_retries = sleep, now, timeout, max_retries
        self.page_size, self.index_lag = page_size, timedelta(seconds=index_lag_seconds)
        self.deal_key = deal_key_property
        self.zone = UTC  # the account's time zone, for the day a DAILY 429 waits out (adapter_for sets it)
        client = hubspot.HubSpot(access_token=token, host=self.base_url, retry=NO_RETRY)
        # Each discovery property builds a new ApiClient (and connection pool): build them once.
        self._batch, self._search = client.crm.objects.batch_api, client.crm.objects.search_api
        self._owners = client.crm.owners.owners_api
        self._properties = client.crm.properties.core_api
        self._pipelines = client.crm.pipelines.pipelines_api
        self._associations = client.crm.associations.v4.batch_api
        self._stage_pipelines = {}  # deal stage id -> its pipeline's id
        self.requests = 0  # attempts sent, for figures and tests

    # -- the one way out -----------------------------------------------------------------------------
    def _call(self, method, *args, search=False, idempotent=True, **kwargs):
        attempts = waits = 0
        while True:
            self.pacer.wait(search=search)
            self.requests += 1
            try:
                return method(*args, _request_timeout=self.timeout, **kwargs)
            except Exception as exc:
                error = hubspot_errors.translate(exc, self.now(), self.timeout, zone=self.zone)
                if error is None:
                    raise
            if error.kind == "rate_limit" and error.policy != "DAILY" and waits < MAX_RATE_LIMIT_WAITS:
                waits += 1
                self.pacer.hold(error.retry_after)
                continue
            if error.retryable and error.kind != "rate_limit" and idempotent and attempts < self.max_retries:
                self.sleep(backoff(attempts))
                attempts += 1
                continue
            raise error from None

    def _call_json(self, method, *args, **kwargs):
        """Like _call, but the answer's JSON as dicts: the client's generated models cost about half a
        millisecond a record (each builds its own Configuration), too slow for pulls of 50,000."""
        response = self._call(method, *args, _preload_content=False, **kwargs)
        try:
            return json.loads(response.data or b"{}")
        finally:
            response.release_conn()

    # -- account -----------------------------------------------------------------------------------
    def check(self, required=REQUIRED_SCOPES):
        api_client = self._batch.api_client
        info = self._call(api_client.call_api, TOKEN_INFO, "POST", body={"tokenKey": self.token},
                          header_params={"Content-Type": "application/json", "Accept": "application/json"},
                          response_types_map={200: "object"}, auth_settings=[], _return_http_data_only=True)
        granted = set((info or {}).get("scopes") or [])
        missing = set(required) - granted
        if missing:
            raise CrmError("scope", hubspot_errors.scopes_message(missing), missing_scopes=missing, status=403)
        return granted

    def account_time_zone(self):
        """The account's time zone as HubSpot names it ("US/Eastern"); "" when HubSpot does not say."""
        try:
            details = self._call_json(self._batch.api_client.call_api, ACCOUNT_DETAILS, "GET",
                                      header_params={"Accept": "application/json"}, auth_settings=["oauth2"])
        except CrmError as error:
            if error.kind in ("auth", "scope", "bad_request"):
                return ""  # an account or token without it: the day counts in UTC
            raise
        return str(details.get("timeZone") or "")

    def owners(self):
        found = []
        for archived in (False, True):
            after = None
            while True:
                page = self._call(self._owners.get_page, limit=100, after=after, archived=archived)
                found += [Owner(id=str(r.id), email=r.email or "", first_name=r.first_name or "",
                                last_name=r.last_name or "", archived=bool(r.archived)) for r in page.results]
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    break
        return found

    def lifecycle_stages(self):
        prop = self._call(self._properties.get_by_name, "contacts", "lifecyclestage")
        options = [opt for opt in prop.options or [] if not opt.hidden]
        return sorted((StageOption(value=opt.value, label=opt.label, order=opt.display_order or 0) for opt in options),
                      key=lambda s: s.order)

    def deal_key_ensure(self):
        """Make sure deals carry the console's order key (a unique text property): True when it was
        created now, False when it was there; CrmError "scope" when it is missing and the token may
        not create it, "bad_request" when it exists without unique values (upserts by it would fail)."""
        try:
            prop = self._call_json(self._properties.get_by_name, "deals", self.deal_key)
        except CrmError as error:
            if error.status != 404:
                raise
            prop = None
        if prop is not None:
            if not prop.get("hasUniqueValue"):
                raise CrmError("bad_request", f"HubSpot's deal property {self.deal_key} does not require unique "
                                              f"values, so deals cannot be upserted by it. Set it up {KEY_BY_HAND}")
            return False
        create = PropertyCreate(name=self.deal_key, label="Aftercare order key", type="string", field_type="text",
                                group_name="dealinformation", has_unique_value=True,
                                description="The order this deal stands for, as the Aftercare console names it.")
        try:
            self._call(self._properties.create, "deals", property_create=create, idempotent=False)
        except CrmError as error:
            if error.status == 409:
                return False  # created meanwhile (another check)
            if error.kind == "scope":
                raise CrmError("scope", f"{error.message} The console needs it once, to create the deal property "
                                        f"{self.deal_key}; or create it by hand {KEY_BY_HAND}",
                               missing_scopes=error.missing_scopes, status=error.status) from None
            raise
        return True

    def deal_pipelines(self):
        answer = self._call(self._pipelines.get_all, "deals")
        return [DealPipeline(id=p.id, label=p.label, stages=tuple(
            StageOption(value=s.id, label=s.label, order=s.display_order,
                        closed=str((s.metadata or {}).get("isClosed", "false")).lower() == "true")
            for s in sorted(p.stages, key=lambda s: s.display_order) if not s.archived))
                for p in sorted(answer.results, key=lambda p: p.display_order) if not p.archived]

    # -- writes ------------------------------------------------------------------------------------
    def upsert_contacts(self, changes):
        merged = {}
        for change in changes:  # one input per email (HubSpot refuses duplicates): later values win
            email = change.email.strip().lower()
            props, backward = merged.get(email, ({}, False))
            merged[email] = ({**props, **change.properties}, backward or change.stage_backward)
        ok, errors = [], []
        items = list(merged.items())
        for start in range(0, len(items), BATCH_LIMIT):
            chunk = items[start:start + BATCH_LIMIT]
            back = [e for e, (props, backward) in chunk if backward and props.get("lifecyclestage")]
            refused = set()
            if back:  # first clear the stage, then (next request) set the earlier one
                _, clear_errors = self._upsert("contacts", "email", [(e, {"lifecyclestage": ""}) for e in back])
                refused = {err.key for err in clear_errors}
                errors += [ItemError(err.key, f"The lifecycle stage could not be cleared before moving it back: "
                                              f"{err.message}") for err in clear_errors]
            sent = {e: props for e, (props, _) in chunk if e not in refused}
            done, failed = self._upsert("contacts", "email", list(sent.items()))
            errors += failed
            for email, contact_id, props in done:
                wanted = sent[email].get("lifecyclestage")
                ok.append(ContactResult(email, contact_id, props,
                                        stage_ignored=bool(wanted) and props.get("lifecyclestage") != wanted))
        return BatchResult(ok, errors)

    def upsert_deals(self, changes):
        merged = {}
        for change in changes:
            props, email = merged.get(change.key, ({}, None))
            merged[change.key] = ({**props, **change.properties}, change.contact_email or email)
        staged = [props for props, _ in merged.values() if props.get("dealstage") and "pipeline" not in props]
        pipelines = self._pipelines_of({props["dealstage"] for props in staged}) if staged else {}
        for props in staged:
            if props["dealstage"] in pipelines:  # else HubSpot refuses the stage, and says so
                props["pipeline"] = pipelines[props["dealstage"]]
        ok, errors = [], []
        items = list(merged.items())
        for start in range(0, len(items), BATCH_LIMIT):
            chunk = dict(items[start:start + BATCH_LIMIT])
            done, failed = self._upsert("deals", self.deal_key, [(k, props) for k, (props, _) in chunk.items()])
            errors += failed
            emails = {chunk[k][1].strip().lower() for k, _, _ in done if chunk[k][1]}
            contact_ids = self._contact_ids(sorted(emails))
            pairs = []
            for key, deal_id, props in done:
                email = (chunk[key][1] or "").strip().lower()
                if email and email not in contact_ids:
                    errors.append(ItemError(key, f"The deal is in HubSpot (id {deal_id}) but no contact has the "
                                                 f"email {email} to link it to; it will be linked once the customer is.",
                                            retryable=True))
                    continue
                pairs.append((deal_id, contact_ids.get(email)))
                ok.append(DealResult(key, deal_id, props, contact_ids.get(email)))
            self._associate_deals([(d, c) for d, c in pairs if c])
        return BatchResult(ok, errors)

    def _pipelines_of(self, stages):
        """{deal stage: its pipeline's id}, read again when one of `stages` is not known yet."""
        if stages - set(self._stage_pipelines):
            self._stage_pipelines = {s.value: p.id for p in self.deal_pipelines() for s in p.stages}
        return self._stage_pipelines

    def _upsert(self, kind, id_property, items):
        """[(key, props)] -> ([(key, id, props)], [ItemError]); a 400 splits the batch to find the bad items."""
        if not items:
            return [], []
        inputs = [o.SimplePublicObjectBatchInputUpsert(id=key, id_property=id_property,
                                                       properties={**props, id_property: key}) for key, props in items]
        try:
            answer = self._call(self._batch.upsert, kind, o.BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
        except CrmError as error:
            if error.kind != "bad_request" or error.status != 400:
                raise
            if len(items) == 1:
                return [], [ItemError(items[0][0], error.message)]
            half = len(items) // 2
            left, right = self._upsert(kind, id_property, items[:half]), self._upsert(kind, id_property, items[half:])
            return left[0] + right[0], left[1] + right[1]
        done, seen = [], set()
        for result in answer.results or []:
            props = dict(result.properties or {})
            key = (props.get(id_property) or "").lower() if id_property == "email" else props.get(id_property)
            done.append((key, str(result.id), props))
            seen.add(key)
        errors = [ItemError(key, "HubSpot did not confirm this item.") for key, _ in items if key not in seen]
        return done, errors

    def _contact_ids(self, emails):
        ids = {}
        for start in range(0, len(emails), BATCH_LIMIT):
            request = o.BatchReadInputSimplePublicObjectId(
                id_property="email", properties=["email"], properties_with_history=[],
                inputs=[o.SimplePublicObjectId(id=e) for e in emails[start:start + BATCH_LIMIT]])
            answer = self._call(self._batch.read, "contacts", request)
            ids.update({(r.properties.get("email") or "").lower(): str(r.id) for r in answer.results or []})
        return ids

    def _associate_deals(self, pairs):
        for start in range(0, len(pairs), BATCH_LIMIT):
            inputs = [v4.PublicDefaultAssociationMultiPost(_from=v4.PublicObjectId(id=d), to=v4.PublicObjectId(id=c))
                      for d, c in pairs[start:start + BATCH_LIMIT]]
            self._call(self._associations.create_default, "deals", "contacts",
                       v4.BatchInputPublicDefaultAssociationMultiPost(inputs=inputs))

