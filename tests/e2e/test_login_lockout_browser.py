"""A lockout as people meet it (issue 16, item 6): an agent mistypes their password five times and the
login page says what is paused and who can help; a manager finds them under Login lockouts and
unlocks them; the agent logs in. Screenshots of both pages land in var/test-artifacts/."""

import re

import pytest

from tests.e2e.conftest import expect  # None without playwright: the browser marker skips/fails first
from tests.factories import make_agent, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_locked_out_is_told_who_can_help_and_a_manager_unlocks_them(page, login, chromium, live_server,
                                                                               artifacts):
    make_agent(make_user("sam", group="Support agent", first_name="Sam", last_name="Rivera"))
    make_user("maya", group="Manager", first_name="Maya", last_name="Chen")

    # When Sam mistypes his password five times
    page.goto("/admin/login/?next=/console/")
    for _ in range(5):
        page.fill("#id_username", "sam")
        page.fill("#id_password", "not my password")
        page.locator("#login-form button[type=submit]").click()
        page.wait_for_load_state()

    # Then the login page says what is paused, for how long, and who can unlock it
    refusal = page.locator("[data-lockout]")
    expect(refusal).to_contain_text("Logging in as “sam” is paused after too many wrong passwords.")
    expect(refusal).to_contain_text("15 minutes after the last try")
    expect(refusal).to_contain_text("ask your team's manager or any manager")
    page.screenshot(path=str(artifacts / "login-locked.png"), full_page=True)
    assert page.js_errors == []

    # When Maya, a manager, opens Login lockouts from the menu and unlocks him
    manager = chromium.new_context(base_url=live_server.url, viewport=page.viewport_size)
    maya = manager.new_page()
    maya.goto("/admin/login/?next=/console/")
    maya.fill("#id_username", "maya")
    maya.fill("#id_password", "pw")
    maya.locator("#login-form button[type=submit]").click()
    maya.wait_for_url(re.compile(r"/console/$"))
    maya.get_by_role("link", name="Login lockouts").click()
    row = maya.locator("#result_list tbody tr", has_text="sam")
    expect(row).to_contain_text("Account locked")
    maya.screenshot(path=str(artifacts / "login-lockouts.png"), full_page=True)
    row.locator("input[type=checkbox]").check()
    maya.locator("select[name=action]").select_option("unlock")
    maya.locator("button[name=index]").click()
    expect(maya.locator("body")).to_contain_text("Unlocked sam: they can log in now.")
    manager.close()

    # Then Sam logs in with his password
    login("sam")
    expect(page.get_by_role("heading").first).to_be_visible()
