"""API tokens in the console's admin: DRF's own TokenAdmin (one token per user, listed by user)
re-registered on unfold's ModelAdmin, so the page has the console's look."""

from django.contrib import admin
from rest_framework.authtoken.admin import TokenAdmin as BaseTokenAdmin
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin

if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(BaseTokenAdmin, ModelAdmin):
    # A search box instead of a select of every user.
    autocomplete_fields = ("user",)
