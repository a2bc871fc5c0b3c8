from django.urls import path

from integrations.woocommerce import webhooks

urlpatterns = [
    path("webhooks/woocommerce/<slug:store_slug>/", webhooks.receive, name="woocommerce-webhook"),
]
