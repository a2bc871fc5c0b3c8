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


def _nav(page):
    """The sidebar's links as (href, active), in order."""
    import re

    start, end = page.index('id="nav-sidebar-apps"'), page.index('id="nav-sidebar-apps"') + 20_000
    return [(href, "active" in classes.split())
            for href, classes in re.findall(r'<a[^>]+href="([^"]+)"[^>]*class="([^"]*)"', page[start:end])]


def test_the_sidebar_is_unfolds_own_for_each_user_and_page_whatever_was_rendered_before(
        client, manager, support_agent, operations):
    """The sidebar's HTML is kept per shape (console/templatetags/sidebar.py): each user still sees
    their own links, the page they are on lit, exactly as unfold renders them afresh."""
    from console.templatetags import sidebar

    pages = ["/console/", "/admin/lifecycle/exceptioncase/?view=team", "/admin/lifecycle/exceptioncase/?view=mine",
             "/admin/lifecycle/customer/"]
    fresh = {}
    for user in (manager, support_agent, operations):
        client.force_login(user)
        for path in pages:
            sidebar._rendered.clear()  # unfold's render, nothing kept
            fresh[user.username, path] = _nav(client.get(path).content.decode())
    assert sidebar._rendered  # what the last page rendered is kept
    for user in (operations, support_agent, manager, support_agent):  # every shape kept, in another order
        client.force_login(user)
        for path in reversed(pages):
            assert _nav(client.get(path).content.decode()) == fresh[user.username, path], (user.username, path)
    assert fresh["manager", "/console/"] != fresh["agent", "/console/"]  # the dashboard is the managers'
    assert [href for href, active in fresh["agent", "/admin/lifecycle/exceptioncase/?view=mine"] if active] == [
        "/admin/lifecycle/exceptioncase/?view=mine"]


def test_a_sidebar_with_a_badge_is_rendered_every_time():
    """A badge is a live count: no kept HTML stands for it."""
    from django.template import Context

    from console.templatetags.sidebar import shape_of

    item = {"title": "Breached", "link": "/x/", "has_permission": True, "active": False}
    assert shape_of(Context({"sidebar_navigation": [{"items": [item]}]})) is not None
    assert shape_of(Context({"sidebar_navigation": [{"items": [dict(item, badge_callback=lambda: 3)]}]})) is None
    assert shape_of(Context({"sidebar_navigation": [{"items": [item], "badge_callback": lambda: 3}]})) is None
