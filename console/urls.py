from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# A 403 in the console's layout (what the page is for, who uses it); JSON under /api/.
handler403 = "console.views.refusals.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:home", permanent=False)),
    # The admin index lands on the agent home (the app list stays one click away in the sidebar).
    path("admin/", RedirectView.as_view(pattern_name="console:home", permanent=False)),
    path("admin/", admin.site.urls),
    path("console/", include("console.views.urls")),
    path("api/", include("console.api.urls")),
    path("", include("integrations.urls")),
]
