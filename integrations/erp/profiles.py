"""What each ERP's sales-order export looks like: its columns, how its statuses read, how to recognise it.

Plain data, so operations can later edit a profile's column names (an override per field) without code:
- ERPNext "Sales Order" (Data Export of the DocType): labels as headers, child `items` columns labelled
  "Item Code (Items)"; child rows repeat the parent columns or leave them empty. The raw status is the
  combination "status|delivery_status|billing_status", e.g. "To Deliver and Bill|Not Delivered|Not Billed".
- Odoo `sale.order`: field labels as headers, order lines on continuation rows ("Order Lines/…") whose
  order columns are empty. The raw status is "state|invoice_status|delivery", in Odoo's technical values
  whether the export wrote them or their labels ("Sales Order" → sale), e.g. "sale|to invoice|".
- Generic: one row per order with documented columns, for any other ERP.
The shop's order number is matched through a configurable column: ERPNext's customer PO number (`po_no`),
Odoo's customer reference. Headers match case-, underscore- and spacing-insensitively ("%  Delivered" as
ERPNext labels it, "% Delivered" as people retype it), by label or by the ERP's field name.
"""

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from integrations.erp.errors import ColumnsError


@dataclass(frozen=True)
class Field:
    """One thing a profile reads, and the header labels that carry it (the first is the ERP's own label)."""

    name: str
    labels: tuple[str, ...]
    required: bool = False


@dataclass(frozen=True)
class Profile:
    key: str  # erpnext | odoo | generic: what operations choose and what the import records
    title: str
    fields: tuple[Field, ...]
    status: Callable[[Mapping[str, str]], str]  # the order's values by field name → its raw status
    details: tuple[str, ...] = ()  # optional numeric fields kept beside the status (ERPNext's % delivered)
    signature: tuple[str, ...] = ()  # other headers only this ERP writes, for detection
    line_columns: re.Pattern | None = None  # headers of the line rows folded into their order
    day_first: bool | None = None  # how the ERP writes 01-12-2025 (parsing.Formats)
    decimal_comma: bool | None = None  # None: decided by the file's delimiter

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


@functools.lru_cache(maxsize=1024)  # also every status value of every row: a few spellings, read once
def normalize_header(label: str) -> str:
    """How headers compare: case, underscores and runs of spaces do not matter."""
    return " ".join(label.replace("_", " ").split()).casefold()


def _spelled(value: str, vocabulary: Mapping[str, str]) -> str:
    """A known value in its one spelling; anything else as it came (the status mapping decides on it)."""
    return vocabulary.get(normalize_header(value), value)


def _vocabulary(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """(value, label) pairs → every spelling of both → the value."""
    return {normalize_header(spelling): value for value, label in pairs for spelling in (value, label)}


# ERPNext's Select options (erpnext_sales_order_fields.md): stored and exported as these labels.
ERPNEXT_STATUS = ("Draft", "On Hold", "To Deliver and Bill", "To Bill", "To Deliver", "Completed", "Cancelled",
                  "Closed")
ERPNEXT_DELIVERY_STATUS = ("Not Delivered", "Fully Delivered", "Partly Delivered", "Closed", "Not Applicable")
ERPNEXT_BILLING_STATUS = ("Not Billed", "Fully Billed", "Partly Billed", "Closed")
_ERPNEXT = {name: _vocabulary([(v, v) for v in vocabulary]) for name, vocabulary in (
    ("status", ERPNEXT_STATUS), ("delivery_status", ERPNEXT_DELIVERY_STATUS),
    ("billing_status", ERPNEXT_BILLING_STATUS))}

# Odoo's selections (addons/sale, sale_stock, stock): an export writes the label unless "import-compatible".
ODOO_STATE = (("draft", "Quotation"), ("sent", "Quotation Sent"), ("sale", "Sales Order"), ("cancel", "Cancelled"),
              ("done", "Locked"))  # done/Locked: Odoo up to 16
ODOO_INVOICE_STATUS = (("upselling", "Upselling Opportunity"), ("invoiced", "Fully Invoiced"),
                       ("to invoice", "To Invoice"), ("no", "Nothing to Invoice"))
# sale_stock's delivery_status, and a picking's state for exports that carry the delivery order instead.
ODOO_DELIVERY = (("pending", "Not Delivered"), ("started", "Started"), ("partial", "Partially Delivered"),
                 ("full", "Fully Delivered"), ("draft", "Draft"), ("waiting", "Waiting Another Operation"),
                 ("confirmed", "Waiting"), ("assigned", "Ready"), ("done", "Done"), ("cancel", "Cancelled"))
_ODOO = {"status": _vocabulary(ODOO_STATE), "invoice_status": _vocabulary(ODOO_INVOICE_STATUS),
         "delivery_status": _vocabulary(ODOO_DELIVERY)}


def _combined(vocabularies: Mapping[str, Mapping[str, str]]) -> Callable[[Mapping[str, str]], str]:
    def status(values: Mapping[str, str]) -> str:
        return "|".join(_spelled(values.get(name, ""), vocabulary) for name, vocabulary in vocabularies.items())
    return status


ERPNEXT = Profile(
    key="erpnext", title="ERPNext Sales Order",
    fields=(
        Field("erp_id", ("ID", "name")),
        Field("shop_order_number", ("Customer's Purchase Order", "po_no"), required=True),
        Field("status", ("Status", "status"), required=True),
        Field("delivery_status", ("Delivery Status", "delivery_status"), required=True),
        Field("billing_status", ("Billing Status", "billing_status"), required=True),
        Field("total", ("Grand Total", "grand_total"), required=True),
        Field("currency", ("Currency", "currency"), required=True),
        Field("observed_at", ("Last Updated On", "modified")),
        Field("placed_at", ("Date", "transaction_date")),
        Field("customer_email", ("Contact Email", "contact_email")),
        Field("per_delivered", ("%  Delivered", "per_delivered")),
        Field("per_billed", ("% Amount Billed", "per_billed")),
    ),
    status=_combined(_ERPNEXT),
    details=("per_delivered", "per_billed"),
    signature=("Series", "Customer", "Customer Name", "Order Type", "Company", "Exchange Rate", "Price List",
               "Price List Currency", "Price List Exchange Rate", "Delivery Date", "Total", "Rounded Total"),
    line_columns=re.compile(r"\((Items|Sales Order Item)\)$|^items\.", re.IGNORECASE),
    day_first=True,  # ERPNext's default date format is dd-mm-yyyy (its Data Export itself writes ISO)
)

ODOO = Profile(
    key="odoo", title="Odoo sale.order",
    fields=(
        Field("erp_id", ("Order Reference", "name")),
        Field("shop_order_number", ("Customer Reference", "client_order_ref"), required=True),
        Field("status", ("Status", "state"), required=True),
        Field("invoice_status", ("Invoice Status", "invoice_status")),
        Field("delivery_status", ("Delivery Status", "delivery_status")),
        Field("total", ("Total", "amount_total"), required=True),
        Field("currency", ("Currency", "currency_id"), required=True),
        Field("observed_at", ("Last Updated on", "write_date")),
        Field("placed_at", ("Order Date", "date_order")),
        Field("customer_email", ("Customer/Email", "partner_id/email")),
    ),
    status=_combined({"status": _ODOO["status"], "invoice_status": _ODOO["invoice_status"],
                      "delivery_status": _ODOO["delivery_status"]}),
    signature=("Customer", "Company", "Pricelist", "Salesperson", "Sales Team", "Untaxed Amount", "Taxes",
               "Activities", "Expiration", "Payment Terms"),
    line_columns=re.compile(r"^(Order Lines|order_line)/", re.IGNORECASE),
)

GENERIC = Profile(
    key="generic", title="Generic",
    fields=(
        Field("shop_order_number", ("Order Number", "order_number"), required=True),
        Field("status", ("Status", "status"), required=True),
        Field("total", ("Total", "total"), required=True),
        Field("currency", ("Currency", "currency"), required=True),
        Field("observed_at", ("Modified At", "modified_at"), required=True),
        Field("placed_at", ("Order Date", "order_date")),
        Field("customer_email", ("Customer Email", "customer_email")),
    ),
    status=lambda values: values.get("status", ""),
)

PROFILES = {profile.key: profile for profile in (ERPNEXT, ODOO, GENERIC)}  # detection prefers this order on ties


def get_profile(profile: "Profile | str") -> Profile:
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[str(profile).strip().lower()]
    except KeyError:
        raise ValueError(f"Unknown ERP profile “{profile}”: choose one of {', '.join(PROFILES)}.") from None


def column_labels(profile: Profile, overrides: Mapping[str, str | Sequence[str]] | None = None) \
        -> dict[str, tuple[str, ...]]:
    """Each field → the header labels that carry it: the profile's, or the operator's override instead."""
    labels = {f.name: f.labels for f in profile.fields}
    for name, override in (overrides or {}).items():
        if name not in labels:
            raise ValueError(f"{profile.title} has no field “{name}”; its fields are {', '.join(labels)}.")
        chosen = (override,) if isinstance(override, str) else ()
        if isinstance(override, (list, tuple)):
            chosen = tuple(override)
        if not chosen or not all(isinstance(label, str) and label.strip() for label in chosen):
            raise ValueError(f"The column for “{name}” must be a header label, got {override!r}.")
        labels[name] = tuple(label.strip() for label in chosen)
    return labels


def match_columns(profile: Profile, headers: Sequence[str],
                  overrides: Mapping[str, str | Sequence[str]] | None = None) -> dict[str, str]:
    """Each field the file carries → its header as the file spells it. Raises ColumnsError, naming what the
    profile expects and what the file has, when a required column is missing (then nothing is imported)."""
    labels = column_labels(profile, overrides)
    present = {}
    for header in headers:
        present.setdefault(normalize_header(header), header)
    columns = {}
    for name, accepted in labels.items():
        # One column may carry two fields (an ERP that names its orders by the shop's number).
        header = next((present[key] for key in map(normalize_header, accepted) if key in present), None)
        if header is not None:
            columns[name] = header
    missing = [labels[name][0] for name in profile.required if name not in columns]
    if missing:
        raise ColumnsError(_missing_message(profile, missing, labels, headers), profile=profile.key,
                           missing=missing, expected=_expected(profile, labels), found=list(headers))
    return columns


def _expected(profile: Profile, labels: Mapping[str, tuple[str, ...]]) -> list[str]:
    return [labels[name][0] for name in profile.required]


def _a(title: str) -> str:
    return f"{'an' if title[:1].lower() in 'aeiou' else 'a'} {title}"


def _listed(names: Sequence[str], limit: int = 30) -> str:
    # A wide export has hundreds of columns; the message names enough to recognise the file.
    shown = ", ".join(f"“{name}”" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _missing_message(profile, missing, labels, headers) -> str:
    return (f"This file lacks {'the column' if len(missing) == 1 else 'the columns'} {_listed(missing)} that "
            f"{_a(profile.title)} export needs, so nothing was imported. Expected: "
            f"{_listed(_expected(profile, labels))}. Found: {_listed(list(headers))}. Export those columns, "
            "or map them to the file's own column names in the profile.")


# Headers a profile must recognise before a failed detection names it: one shared label ("Status") is
# no evidence of which ERP wrote a file.
MIN_SCORE = 2


@dataclass(frozen=True)
class Detection:
    """Which profile a header row is: `profile` has every required column present; `closest` is the best
    match even when it lacks some (to name in the error); `reason` says why, in a sentence."""

    profile: Profile | None
    closest: Profile | None
    reason: str


def _score(profile: Profile, labels: Mapping[str, tuple[str, ...]], headers: Sequence[str]) -> int:
    known = {normalize_header(label) for accepted in labels.values() for label in accepted}
    known |= {normalize_header(label) for label in profile.signature}
    score = sum(normalize_header(header) in known for header in headers)
    if profile.line_columns and any(profile.line_columns.search(header) for header in headers):
        score += 3  # line columns name the ERP more surely than any one label
    return score


def detect_profile(headers: Sequence[str],
                   column_overrides: Mapping[str, Mapping[str, str | Sequence[str]]] | None = None) -> Detection:
    """The profile a header row belongs to: of those whose required columns are all present, the one that
    recognises most of the headers (ERPNext, then Odoo, then Generic on a tie). Overrides are keyed by
    profile key, then field, as operations store them."""
    candidates = []
    for rank, profile in enumerate(PROFILES.values()):
        overrides = (column_overrides or {}).get(profile.key)
        try:
            match_columns(profile, headers, overrides)
            complete = True
        except ColumnsError:
            complete = False
        candidates.append((complete, _score(profile, column_labels(profile, overrides), headers), -rank, profile))
    complete, score, _, best = max(candidates, key=lambda c: c[:3])
    if complete:
        required = _expected(best, column_labels(best, (column_overrides or {}).get(best.key)))
        return Detection(best, best, f"Detected {best.title}: the file has its columns {_listed(required)}.")
    if score >= MIN_SCORE:
        return Detection(None, best, f"The columns look most like {_a(best.title)} export, but some it needs "
                                     "are missing.")
    titles = ", ".join(p.title for p in PROFILES.values())
    return Detection(None, None, f"The columns match no ERP profile ({titles}). Found: {_listed(list(headers))}.")
