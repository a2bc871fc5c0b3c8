"""Failed logins (issue 16, item 6): an account is locked after five wrong passwords, an address after
thirty, the login page says what is paused and who can help, and managers see and lift lockouts."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_agent, make_user

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/console/"
OFFICE, ELSEWHERE = "203.0.113.7", "198.51.100.4"
LOCKOUTS = reverse("admin:console_loginlockout_changelist")


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    """Dozens of logins per test: a fast hasher, so the time goes to what is tested."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(username, password, address=OFFICE, **headers):
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password}, **headers)


def logged_in(response):
    return response.status_code == 302 and response["Location"] == "/console/"


@pytest.fixture
def ada(db):
    user = make_user("ada", group="Support agent", password="correct horse battery")
    make_agent(user)
    return user


def test_five_wrong_passwords_lock_the_account_and_the_page_says_who_can_help(ada):
    # given: four wrong passwords, each answered with the usual error
    assert [log_in("ada", "wrong").status_code for _ in range(4)] == [200] * 4

    # when: the fifth
    response = log_in("ada", "wrong")

    # then: the login page refuses with what is paused, for how long, and who can unlock it
    assert response.status_code == 429
    page = response.content.decode()
    assert "Logging in as “ada” is paused after too many wrong passwords." in page
    assert "It opens again 15 minutes after the last try" in page
    assert "ask your team&#x27;s manager or any manager" in page
    assert 'id="login-form"' in page  # the form stays, for after the wait
    # and: the right password is refused too, from any address, while the lock holds
    assert log_in("ada", "correct horse battery", ELSEWHERE).status_code == 429


def test_a_locked_account_does_not_lock_out_its_colleagues_at_the_same_address(ada):
    make_user("bruno", group="Support agent", password="bruno's own password")
    for _ in range(5):
        log_in("ada", "wrong")
    assert logged_in(log_in("bruno", "bruno's own password"))


def test_the_lock_lifts_fifteen_minutes_after_the_last_try(ada):
    for _ in range(5):
        log_in("ada", "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert logged_in(log_in("ada", "correct horse battery"))


def test_an_address_trying_many_accounts_is_locked_for_every_account(ada):
    # given: thirty wrong passwords from one address, for thirty names, none reaching its own limit
    for n in range(29):
        assert log_in(f"guess{n}", "wrong").status_code == 200
    response = log_in("guess29", "wrong")

    # then: the address is locked, whoever logs in from it, and the page says so
    assert response.status_code == 429
    assert "Logging in from your network address is paused" in response.content.decode()
    assert log_in("ada", "correct horse battery").status_code == 429
    # and: the same person from another address is not
    assert logged_in(log_in("ada", "correct horse battery", ELSEWHERE))


def test_logging_in_clears_the_accounts_failures_but_not_the_addresses(ada):
    for n in range(25):
        log_in(f"guess{n}", "wrong")
    for _ in range(4):
        log_in("ada", "wrong")
    assert logged_in(log_in("ada", "correct horse battery"))  # a valid account does not clear the address
    assert not AccessAttempt.objects.filter(username="ada").exists()
    assert AccessAttempt.objects.filter(ip_address=OFFICE).count() == 25
    assert [log_in(f"more{n}", "wrong").status_code for n in range(5)] == [200] * 4 + [429]


def test_behind_the_proxy_the_address_is_the_one_the_proxy_saw(ada, settings):
    # given: one proxy in front, which appends the address it saw to X-Forwarded-For
    settings.AFTERCARE_TRUSTED_PROXIES = 1
    # when: a client writes its own X-Forwarded-For, a new one each try, to look like many addresses
    for n in range(30):
        log_in(f"guess{n}", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {OFFICE}")
    # then: the address counted is the one the proxy added: locked, whatever the client wrote
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {OFFICE}
    response = log_in("ada", "correct horse battery", address="10.0.0.2", HTTP_X_FORWARDED_FOR=OFFICE)
    assert response.status_code == 429
    assert logged_in(log_in("ada", "correct horse battery", address="10.0.0.2", HTTP_X_FORWARDED_FOR=ELSEWHERE))


def test_a_check_of_a_password_outside_a_request_is_not_counted(ada):
    # scripts and management commands call authenticate() without a request: no address to count
    assert authenticate(username="ada", password="correct horse battery") == ada
    assert authenticate(username="ada", password="wrong") is None
    assert not AccessAttempt.objects.exists()


# --- managers see lockouts and lift them --------------------------------------------------------------
def test_a_manager_sees_who_is_locked_out_and_unlocks_them(ada, manager, client):
    for _ in range(5):
        log_in("ada", "wrong")
    log_in("ada", "wrong", ELSEWHERE)
    client.force_login(manager)

    page = client.get(LOCKOUTS).content.decode()
    assert page.count("Account locked") == 2 and OFFICE in page and ELSEWHERE in page

    response = client.post(LOCKOUTS, {"action": "unlock", "_selected_action": [AccessAttempt.objects.first().pk]},
                           follow=True)
    assert "Unlocked ada: they can log in now." in response.content.decode()
    assert not AccessAttempt.objects.exists()  # both of her rows: her account is unlocked everywhere
    assert logged_in(log_in("ada", "correct horse battery"))


def test_the_lockout_list_is_for_managers(ada, support_agent, client):
    log_in("ada", "wrong")
    client.force_login(support_agent)
    assert client.get(LOCKOUTS).status_code == 403
