"""Read API under /api/: v1 endpoints, the OpenAPI schema and its browsable docs."""

app_name = "api"

urlpatterns = []
