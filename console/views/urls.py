"""Console pages under /console/. Each feature keeps its routes in its own block."""

from django.urls import path  # noqa: F401

from console.views import dashboard, home  # agent home and manager dashboard
from console.views import customers, search  # customer screen and search
from console.views import customer_journey, journey_map  # the first 30 days

app_name = "console"

urlpatterns = [
    # --- customer screen and search ---
    path("customers/<int:customer_id>/", customers.screen_view, name="customer"),
    path("customers/<int:customer_id>/stage/", customers.move_stage_view, name="customer_move_stage"),
    path("customers/<int:customer_id>/exceptions/<int:exception_id>/", customers.exception_view,
         name="customer_exception"),
    path("search/", search.search_view, name="search"),
    # --- agent home and manager dashboard ---
    path("", home.home_view, name="home"),
    path("home/queue/", home.home_queue, name="home_queue"),
    path("home/claim-next/", home.claim_next_view, name="home_claim_next"),
    path("home/claim/<int:customer_id>/", home.claim_customer_view, name="home_claim_customer"),
    path("dashboard/", dashboard.dashboard_view, name="dashboard"),
    path("dashboard/rebalance/", dashboard.rebalance_view, name="dashboard_rebalance"),
    path("dashboard/reassign/", dashboard.reassign_view, name="dashboard_reassign"),
    # --- the first 30 days ---
    path("customers/<int:customer_id>/journey/steps/<int:step_id>/", customer_journey.mark_step_done_view,
         name="customer_journey_step"),
    path("journeys/", journey_map.journey_map_view, name="journey_map"),
]
