"""What every console page carries: the console's icon, and a sidebar that highlights only the page you are on."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_console_pages_link_the_favicon_and_it_exists(client_for, support_agent):
    page = client_for(support_agent).get("/console/").content.decode()
    assert 'rel="icon"' in page and "console/favicon.svg" in page
    path = finders.find("console/favicon.svg")
    assert path and open(path, encoding="utf-8").read().startswith("<svg")


def test_the_sidebar_highlights_only_the_page_you_are_on(client_for, manager):
    import re

    page = client_for(manager).get("/admin/lifecycle/exceptioncase/?view=team").content.decode()
    # unfold gives the sidebar's current link the class "active"
    links = re.findall(r'<a[^>]+href="(/admin/[^"]+)"[^>]*class="([^"]*)"', page)
    active = {href for href, classes in links if "active" in classes.split()}
    assert active == {"/admin/lifecycle/exceptioncase/?view=team"}, active
