"""Keyset pagination for long histories (orders, timeline): no OFFSET, no COUNT over the history."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(moment, pk):
    delta = moment - _EPOCH
    return f"{(delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds}_{pk}"


def decode_cursor(value):
    """(datetime, pk) from encode_cursor's text, or None for anything else (a hand-edited URL)."""
    try:
        micros, pk = (int(part) for part in (value or "").split("_"))
    except ValueError:
        return None
    return _EPOCH + timedelta(microseconds=micros), pk


@dataclass
class Page:
    rows: list
    newer: str | None = None  # cursor for the page of newer rows, None on the newest page
    older: str | None = None  # cursor for the page of older rows, None on the oldest page


def keyset_page(queryset, *, field_name, after=None, before=None, limit):
    """One page, newest first: rows older than `after`, or newer than `before`, or the newest.

    One query of `limit + 1` rows on an index ordered by (field, pk); the extra row only says
    whether another page exists.
    """
    if before is not None:
        moment, pk = before
        newer_first = queryset.filter(Q(**{f"{field_name}__gt": moment}) | Q(**{field_name: moment, "pk__gt": pk}))
        rows = list(newer_first.order_by(field_name, "pk")[: limit + 1])
        if not rows:  # nothing newer (the cursor was the newest row): show the newest page
            return keyset_page(queryset, field_name=field_name, limit=limit)
        has_newer, has_older = len(rows) > limit, True
        rows = rows[:limit][::-1]
    else:
        if after is not None:
            moment, pk = after
            queryset = queryset.filter(Q(**{f"{field_name}__lt": moment}) | Q(**{field_name: moment, "pk__lt": pk}))
        rows = list(queryset.order_by(f"-{field_name}", "-pk")[: limit + 1])
        has_newer, has_older = after is not None, len(rows) > limit
        rows = rows[:limit]
    if not rows:
        return Page(rows)
    return Page(
        rows,
        newer=encode_cursor(getattr(rows[0], field_name), rows[0].pk) if has_newer else None,
        older=encode_cursor(getattr(rows[-1], field_name), rows[-1].pk) if has_older else None,
    )
