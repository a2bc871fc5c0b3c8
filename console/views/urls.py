"""Console pages under /console/. Each feature keeps its routes in its own block."""

from django.urls import path  # noqa: F401

app_name = "console"

urlpatterns = [
    # --- customer screen and search ---
    # --- agent home and manager dashboard ---
]
