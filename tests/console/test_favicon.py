"""Every console page names the console's icon, and the icon is served."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_console_pages_link_the_favicon_and_it_exists(client_for, support_agent):
    page = client_for(support_agent).get("/console/").content.decode()
    assert 'rel="icon"' in page and "console/favicon.svg" in page
    path = finders.find("console/favicon.svg")
    assert path and open(path, encoding="utf-8").read().startswith("<svg")
