from django.urls import path

from integrations.crm import webhooks as crm_webhooks
from integrations.woocommerce import webhooks

urlpatterns = [
    path("webhooks/woocommerce/<slug:store_slug>/", webhooks.receive, name="woocommerce-webhook"),
    path("webhooks/hubspot/<int:connection_id>/", crm_webhooks.receive, name="hubspot-webhook"),
]
