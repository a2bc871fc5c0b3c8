"""Read API under /api/: v1 endpoints, the OpenAPI schema and its browsable docs."""

from django.contrib.auth.decorators import login_required
from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from console.api import views


class IdConverter:
    """A row id: digits within PostgreSQL's bigint. A larger number cannot name a row, and some
    lookups (`id IN (...)`) would fail on it: it does not match, and the catch-all answers 404."""

    regex = "[0-9]{1,19}"

    def to_python(self, value):
        number = int(value)
        if not 1 <= number <= 2**63 - 1:
            raise ValueError(value)
        return number

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "api_id")
app_name = "api"

urlpatterns = [
    path("v1/customers/", views.CustomerList.as_view(), name="customer-list"),
    path("v1/customers/<api_id:id>/", views.CustomerDetail.as_view(), name="customer-detail"),
    path("v1/customers/<api_id:id>/timeline/", views.CustomerTimeline.as_view(), name="customer-timeline"),
    path("v1/exceptions/", views.ExceptionList.as_view(), name="exception-list"),
    # Last among v1: only paths ending in "/", so a missing slash still gets Django's redirect.
    re_path(r"^v1/(?:[\s\S]*/)?\Z", views.NotFound.as_view()),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # A person reads the docs in a browser: without a session, the login page (then back here). Split:
    # Swagger UI's start-up script is a file of its own (?script), as the Content-Security-Policy
    # refuses inline scripts.
    path("docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="docs"),
]
