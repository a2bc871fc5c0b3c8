"""What the fuzz tests (issue 16, item 7) feed the console: values a hostile or broken system can send.

Kept small: each test runs a few dozen examples (deadline=None: the shared machine is slow), enough
to hit every kind of value at every field of a real payload in every run.
"""

from contextlib import contextmanager

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Pure functions: cheap examples. Through the database: fewer.
PURE = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
WITH_DATABASE = settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# Text a field may carry: ordinary, empty, blank, a NUL, control characters, long, right-to-left,
# an emoji, digits, a date-like string.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\r\n", "\u202e", "🧾", "0", "-1", "1e309", "NaN",
                     "2017-03-22T16:30:00", "9999-12-31T23:59:59", "0000-00-00T00:00:00", "#1042"]),
    st.text(min_size=250, max_size=400),
)
NUMBERS = st.one_of(st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70), st.floats(allow_nan=True))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, HOSTILE_TEXT)
# Any JSON value, nested a little (json.loads also gives NaN and Infinity, which PHP never writes).
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner,
                                                                                            max_size=3), max_leaves=8)


def mostly(usual, other, odds=4):
    """`usual` most of the time, `other` one time in odds + 1: a payload with one odd value among
    plausible ones goes further into the code than one odd everywhere."""
    return st.integers(0, odds).flatmap(lambda n: other if n == 0 else usual)


@contextmanager
def rolled_back():
    """One example's writes, undone before the next (Hypothesis reuses the test's transaction)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
