"""Fuzzing the read API's filters (issue 16, item 7): any value of any filter, a NUL or a number past
any id included, is answered 200 or a 400 naming the parameter, never a 500."""

import pytest
from django.db import connection
from hypothesis import example, given
from hypothesis import strategies as st

from tests.api.conftest import token_client
from tests.security.fuzz import HOSTILE_TEXT, PURE

pytestmark = pytest.mark.django_db
# Every documented filter of every list (console/api/serializers.py), plus the pagination and cursor.
FILTERS = {
    "/api/v1/customers/": ["email", "order_number", "external_id", "page_size", "cursor"],
    "/api/v1/exceptions/": ["queue", "status", "kind", "page_size", "cursor"],
}
VALUES = st.one_of(HOSTILE_TEXT, st.integers().map(str), st.sampled_from(["open", "managers", "support", "2**63",
                                                                          str(2**63), "-1", "%00", "\ud800"]))
QUERIES = st.sampled_from(sorted(FILTERS)).flatmap(lambda path: st.tuples(
    st.just(path), st.dictionaries(st.sampled_from(FILTERS[path]), VALUES, min_size=1, max_size=3)))


def test_any_filter_value_is_answered_200_or_a_400_naming_it(manager):
    client = token_client(manager)

    @PURE
    @given(query=QUERIES)
    @example(query=("/api/v1/customers/", {"email": "ada\x00@example.com"}))
    @example(query=("/api/v1/customers/", {"external_id": "9" * 400}))
    @example(query=("/api/v1/exceptions/", {"queue": "support\x00", "status": "open"}))
    @example(query=("/api/v1/exceptions/", {"page_size": str(2**64)}))
    def answered(query):
        path, params = query
        params = {name: value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                  for name, value in params.items()}
        response = client.get(path, params)
        assert response.status_code in (200, 400, 404), (params, response.status_code)
        if response.status_code == 400:
            assert set(response.json()) <= set(FILTERS[path]), response.json()
        assert connection.is_usable()

    answered()
