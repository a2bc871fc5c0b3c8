from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:home", permanent=False)),
    # The admin index lands on the agent home (the app list stays one click away in the sidebar).
    path("admin/", RedirectView.as_view(pattern_name="console:home", permanent=False)),
    path("admin/", admin.site.urls),
    path("console/", include("console.views.urls")),
    path("api/", include("console.api.urls")),
    path("", include("integrations.urls")),
]
