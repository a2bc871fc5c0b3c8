"""Personal data (issue 16, item 9): customers' emails and phones never reach a log line, however the
line is written (the web's handlers, runserver's request log, a Celery worker's, gunicorn's access
log), and what people search for stays out of addresses."""

import io
import logging
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from celery.signals import after_setup_logger
from cryptography.fernet import Fernet
from django.db import IntegrityError, transaction
from django.urls import reverse
from gunicorn.config import Config

from console.redaction import RedactingGunicornLogger, RedactPersonalData
from console.views import search as search_view
from integrations.models import InboundEvent
from integrations.stores import store_connect
from integrations.woocommerce import tasks
from lifecycle.actors import Actor
from lifecycle.models import CustomerIdentity, IdentityKind
from tests.factories import make_agent, make_customer, make_owned_customer, make_user

pytestmark = pytest.mark.django_db
EMAIL, PHONE = "ada.lovelace@example.com", "+447700900123"
SEARCH = reverse("console:search")


@pytest.fixture
def duplicate_email():
    """The IntegrityError a race between two writers of one customer gives: PostgreSQL's detail quotes
    the email (Key (kind, namespace, value)=(email, , ada.lovelace@example.com) already exists)."""
    customer = make_customer(email=EMAIL, phone=PHONE)
    try:
        with transaction.atomic():
            CustomerIdentity.objects.create(customer=customer, kind=IdentityKind.EMAIL, namespace="", value=EMAIL)
    except IntegrityError as error:
        return error
    pytest.fail("no IntegrityError")


def written_by(handler, log):
    """What `handler` writes while `log()` runs."""
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        log()
    finally:
        handler.setStream(previous)
    return stream.getvalue()


def redacting(logger):
    return [h for h in logger.handlers if any(isinstance(f, RedactPersonalData) for f in h.filters)]


def log_exception(logger, error):
    try:
        raise error
    except IntegrityError:
        logger.exception("Task process_inbound_event[1] raised unexpected: %r", error)


def assert_clean(text):
    assert EMAIL not in text and "ada.lovelace%40example.com" not in text, text
    assert PHONE not in text, text


# --- logs -------------------------------------------------------------------------------------------------
def test_the_database_quoting_an_email_is_logged_without_it_by_the_web_processes(duplicate_email):
    assert EMAIL in str(duplicate_email)  # what PostgreSQL says, and what the log must not
    [handler] = redacting(logging.getLogger())  # the handler settings.LOGGING gives the root logger
    text = written_by(handler, lambda: log_exception(logging.getLogger("django.request"), duplicate_email))
    assert "IntegrityError" in text and "[email]" in text and "Traceback" in text
    assert_clean(text)


def test_a_celery_workers_log_redacts_what_a_failing_task_quotes(duplicate_email):
    # given a logger set up as a worker's is (Celery's own handlers, not settings.LOGGING's)
    worker_log = logging.getLogger("test.celery.worker")
    handler = logging.StreamHandler(io.StringIO())
    worker_log.addHandler(handler)
    try:
        after_setup_logger.send(sender=None, logger=worker_log, loglevel=logging.INFO, logfile=None, format="",
                                colorize=False)
        # when a task fails on the constraint, and the worker logs it with its traceback
        text = written_by(handler, lambda: log_exception(worker_log, duplicate_email))
    finally:
        worker_log.removeHandler(handler)
    # then the line and the traceback say what failed, without the email
    assert "IntegrityError" in text and "[email]" in text
    assert_clean(text)


def test_a_delivery_failing_on_a_constraint_is_retried_and_recorded_without_the_email(duplicate_email):
    store = store_connect(name="Main", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                          consumer_secret="cs", webhook_secret="whsec", actor=Actor.system("tests"))
    event = InboundEvent.objects.create(store=store, topic="order.updated", body=b"{}", body_sha256="-")
    with mock.patch.object(tasks, "inbound_event_process", side_effect=duplicate_email), \
            mock.patch.object(tasks.process_inbound_event, "retry", side_effect=lambda exc, countdown: exc) as retry:
        with pytest.raises(tasks.RetryLater) as retried:
            tasks.process_inbound_event.run(event.pk)
    # what Celery logs with the retry, and what operators read on the delivery, name the constraint only
    assert retry.called
    assert str(retried.value) == "IntegrityError on identity_unique_per_system"
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FAILED and event.reason == "IntegrityError on identity_unique_per_system"


def test_runservers_request_log_holds_no_search_term_or_email():
    [handler] = redacting(logging.getLogger("django.server"))
    text = written_by(handler, lambda: logging.getLogger("django.server").info(
        '"%s" %s %s', "GET /admin/lifecycle/customer/?q=ada.lovelace%40example.com&o=1 HTTP/1.1", "200", "9120"))
    assert "/admin/lifecycle/customer/?q=[search]&o=1" in text
    assert_clean(text)


def test_gunicorns_access_log_holds_no_search_term_email_or_phone():
    logger = RedactingGunicornLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/console/search/?q=Ada+Lovelace", "SERVER_PROTOCOL": "HTTP/1.1",
               "QUERY_STRING": "q=Ada+Lovelace", "PATH_INFO": "/console/search/", "REMOTE_ADDR": "203.0.113.7",
               "HTTP_REFERER": f"https://console.example.com/admin/lifecycle/customer/?q={PHONE}"}
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=12))
    assert atoms["r"] == "GET /console/search/?q=[search] HTTP/1.1"
    assert atoms["q"] == "q=[search]"
    assert atoms["f"] == "https://console.example.com/admin/lifecycle/customer/?q=[search]"
    assert atoms["h"] == "203.0.113.7" and atoms["s"] == "200"


def test_the_consoles_own_log_lines_name_no_customer():
    # every log call in the console's code: none passes a customer, an email, a name or a phone
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    suspicious = []
    for path in [*root.glob("lifecycle/**/*.py"), *root.glob("integrations/**/*.py"), *root.glob("console/**/*.py")]:
        if "sandbox" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in
                    {"debug", "info", "warning", "error", "exception"} and getattr(node.func.value, "id", "") == "log"):
                named = {n.id for arg in node.args[1:] for n in ast.walk(arg) if isinstance(n, ast.Name)}
                attrs = {n.attr for arg in node.args[1:] for n in ast.walk(arg) if isinstance(n, ast.Attribute)}
                if named & {"customer", "email", "phone"} or attrs & {"email", "phone", "display_name", "first_name",
                                                                     "last_name"}:
                    suspicious.append(f"{path.relative_to(root)}:{node.lineno}")
    assert suspicious == []


# --- search terms out of addresses ---------------------------------------------------------------------
@pytest.fixture
def agent_client(client):
    user = make_user("sam", group="Support agent")
    make_agent(user, teams=["commerce", "success"])
    client.force_login(user)
    return client


def test_a_search_posted_from_the_box_lists_its_matches_at_an_address_without_the_term(agent_client):
    make_owned_customer(name="Ada Lovelace", email=EMAIL)
    make_owned_customer(name="Ada Byron", email="byron@example.com")

    response = agent_client.post(SEARCH, {"q": "Ada"})

    # the browser is sent to the results' own address: the term is in it only encrypted
    assert response.status_code == 303
    results = response["Location"]
    assert results.startswith(f"{SEARCH}?s=") and "Ada" not in results and "ada" not in results.lower()[3:]
    # and that address is an ordinary page: back, reload and a bookmark show the matches again
    for _ in range(2):
        page = agent_client.get(results)
        assert page.status_code == 200
        assert page.context["search_query"] == "Ada" and len(page.context["rows"]) == 2


def test_a_search_by_email_posted_from_the_box_opens_the_one_customer(agent_client):
    ada = make_owned_customer(name="Ada Lovelace", email=EMAIL)
    response = agent_client.post(SEARCH, {"q": EMAIL})
    assert response.status_code == 302 and response["Location"] == reverse("console:customer", args=[ada.pk])


def test_a_link_to_a_search_shows_a_colleague_what_they_may_see(agent_client, client, manager):
    make_owned_customer(name="Ada Lovelace", email=EMAIL)
    make_owned_customer(name="Ada Byron", email="byron@example.com")
    results = agent_client.post(SEARCH, {"q": "Ada"})["Location"]
    client.force_login(manager)
    assert len(client.get(results).context["rows"]) == 2


def test_the_search_forms_post(agent_client):
    page = agent_client.get(SEARCH).content.decode()
    assert page.count(f'method="post" action="{SEARCH}"') == 2  # the header's box and the page's
    assert 'name="csrfmiddlewaretoken"' in page


@pytest.mark.parametrize("term", ["Ada\x00", "x" * 255])
def test_a_posted_search_with_a_nul_or_too_long_is_a_400(agent_client, term):
    response = agent_client.post(SEARCH, {"q": term})
    assert response.status_code == 400
    assert "Not something the console can look for" in response.content.decode()


def test_a_link_that_cannot_be_read_says_so_with_the_box_to_search_again(agent_client, monkeypatch):
    results = agent_client.post(SEARCH, {"q": "Ada"})["Location"]
    another_key = Fernet(Fernet.generate_key())
    monkeypatch.setattr(search_view, "_fernet", lambda: another_key)  # SECRET_KEY changed since
    page = agent_client.get(results)
    assert page.status_code == 400
    assert "can no longer be opened" in page.content.decode() and 'name="q"' in page.content.decode()
    assert agent_client.get(f"{SEARCH}?s=not-a-token").status_code == 400
