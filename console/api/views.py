"""Read API v1: thin views over lifecycle/selectors/api.py.

Each request is a fixed number of queries (authentication, the user's permissions, the page, one
query per prefetched relation): lists page with a cursor, so no COUNT runs over big tables.
A customer the user may not see answers 404, as if it did not exist.
"""

import contextlib

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from console.api import serializers as s
from console.selectors.crm import with_crm
from console.views.customers import order_meanings
from lifecycle.db.rows import prepared_reads
from lifecycle.models import Customer, ExceptionCase, TimelineEvent
from lifecycle.selectors.api import (
    customer_for_api,
    customer_timeline,
    customers_for_api,
    exceptions_for_api,
    load_customer_details,
)
from lifecycle.selectors.health import attach_health
from lifecycle.selectors.journeys import attach_journeys
from lifecycle.selectors.visibility import customer_visible_to


# --- pagination --------------------------------------------------------------------------------
class _Cursor(CursorPagination):
    # 25 fits a sidebar; 100 caps what one request may load (each customer brings up to 20 orders).
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        # DRF ignores a bad page_size silently; a script asking for 500 should learn it gets 100 at most.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size, default=self.page_size)
        return parameters


class NewestCustomersFirst(_Cursor):
    ordering = "-id"


class NewestEventsFirst(_Cursor):
    # The cursor positions on occurred_at; events sharing one instant are told apart by offset.
    ordering = ("-occurred_at", "-id")


class OldestExceptionsFirst(_Cursor):
    """Oldest first. One queue's exceptions in one status go by opening time (a reopened one counts
    from its reopening), read straight off the (status, queue, opened_at) index; any other listing
    goes by creation, off the primary key. Ordering those by opening time would sort every matching
    row per page, and an empty queue ordered by id would scan the whole table."""

    ordering = "id"

    def get_ordering(self, request, queryset, view):
        params = request.query_params
        return ("opened_at", "id") if params.get("queue") and params.get("status") else ("id",)


# --- permissions ---------------------------------------------------------------------------------
class HasModelViewPermission(BasePermission):
    """The view's `required_permission` (a role without it gets 403; rows are filtered by visibility)."""

    def has_permission(self, request, view):
        return request.user.has_perm(view.required_permission)


PERMISSIONS = [IsAuthenticated, HasModelViewPermission]

# --- schema pieces ------------------------------------------------------------------------------
def _error(description):
    return OpenApiResponse(s.ErrorSerializer, description=description)


VALIDATION_ERROR = OpenApiResponse(
    {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    description="A query parameter is invalid: messages per parameter.",
)
UNAUTHENTICATED = _error("No or invalid credentials (the answer carries `WWW-Authenticate: Token`).")
FORBIDDEN = _error("Your role may not read this resource.")
COMMON_ERRORS = {400: VALIDATION_ERROR, 401: UNAUTHENTICATED, 403: FORBIDDEN}
CUSTOMER_ID = OpenApiParameter(
    "id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}, OpenApiParameter.PATH,
    description="The customer's id.",
)


def _query(serializer_class, request):
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


class _ReadView(GenericAPIView):
    permission_classes = PERMISSIONS
    # A customer's reads probe by id or email: the same few statements every time, planned once per
    # connection (rows.prepared_reads), where one plan suits every value.
    prepared = True

    def dispatch(self, request, *args, **kwargs):
        with prepared_reads() if self.prepared else contextlib.nullcontext():
            return super().dispatch(request, *args, **kwargs)


class CustomerList(_ReadView):
    required_permission = "lifecycle.view_customer"
    serializer_class = s.CustomerSerializer
    pagination_class = NewestCustomersFirst
    queryset = Customer.objects.none()  # for the schema; requests use the selectors

    @extend_schema(
        operation_id="customers_list",
        summary="Find customers",
        description=(
            "Customers you may see, newest first. With `email`, `order_number` or `external_id` (several "
            "combine with AND): the customers matching them, usually one. Each carries its owner, stage, "
            "latest orders with each system's raw status (and why an order waits), open exceptions, and its "
            "contact in the connected CRM."
        ),
        parameters=[s.CustomerQuerySerializer],
        responses={200: s.CustomerSerializer(many=True), **COMMON_ERRORS, 404: _error("The cursor is invalid.")},
    )
    def get(self, request):
        lookups = _query(s.CustomerQuerySerializer, request)
        page = self.paginate_queryset(customers_for_api(request.user, extend=with_crm, **lookups))
        load_customer_details(request.user, page, interpret=order_meanings)
        attach_health(page)  # the page's scores and trends, read with it
        attach_journeys(page)  # the page's current journeys and their steps: one query
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class CustomerDetail(_ReadView):
    required_permission = "lifecycle.view_customer"
    serializer_class = s.CustomerSerializer
    queryset = Customer.objects.none()

    @extend_schema(
        operation_id="customers_retrieve",
        summary="One customer",
        parameters=[CUSTOMER_ID],
        responses={200: s.CustomerSerializer, 401: UNAUTHENTICATED, 403: FORBIDDEN,
                   404: _error("No such customer, or one you may not see.")},
    )
    def get(self, request, id):
        customer = customer_for_api(request.user, id, interpret=order_meanings, extend=with_crm)
        if customer is None:
            raise Http404
        attach_health([customer])
        attach_journeys([customer])
        return Response(self.get_serializer(customer).data)


class CustomerTimeline(_ReadView):
    required_permission = "lifecycle.view_timelineevent"
    serializer_class = s.TimelineEventSerializer
    pagination_class = NewestEventsFirst
    queryset = TimelineEvent.objects.none()

    @extend_schema(
        operation_id="customers_timeline_list",
        summary="A customer's timeline",
        description="Everything that happened to the customer, newest first; `source` keeps one source.",
        parameters=[CUSTOMER_ID, s.TimelineQuerySerializer],
        responses={
            200: s.TimelineEventSerializer(many=True), **COMMON_ERRORS,
            404: _error("No such customer (or one you may not see), or the cursor is invalid."),
        },
    )
    def get(self, request, id):
        query = _query(s.TimelineQuerySerializer, request)
        if not customer_visible_to(request.user, id):
            raise Http404
        page = self.paginate_queryset(customer_timeline(id, source=query.get("source")))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ExceptionList(_ReadView):
    required_permission = "lifecycle.view_exceptioncase"
    prepared = False  # filters on skewed columns (a rare kind, an empty queue): each value planned for itself
    serializer_class = s.ExceptionSerializer
    pagination_class = OldestExceptionsFirst
    queryset = ExceptionCase.objects.none()

    @extend_schema(
        operation_id="exceptions_list",
        summary="Exceptions",
        description=(
            "Exceptions you may see, filtered by queue, status and kind; oldest first. With both `queue` and "
            "`status` (a queue's worklist) by opening time, a reopened exception counting from its reopening; "
            "otherwise by creation."
        ),
        parameters=[s.ExceptionQuerySerializer],
        responses={200: s.ExceptionSerializer(many=True), **COMMON_ERRORS, 404: _error("The cursor is invalid.")},
    )
    def get(self, request):
        query = _query(s.ExceptionQuerySerializer, request)
        page = self.paginate_queryset(exceptions_for_api(request.user, **query))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class NotFound(GenericAPIView):
    """Any other /api/v1/ URL (an id that is not a number, a typo): a JSON 404 like the endpoints',
    not Django's HTML page, so clients parse every answer the same way."""

    permission_classes = []
    schema = None  # not an endpoint: kept out of the OpenAPI schema

    def get(self, request, *args, **kwargs):
        raise Http404

    post = put = patch = delete = head = options = get
