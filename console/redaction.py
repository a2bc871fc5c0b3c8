"""Customers' emails and phone numbers, and what people search for, kept out of the logs.

The console's own log lines name customers by id, never by email, name or phone. What it does not
write itself still can carry them: a database error quotes the value that broke a unique constraint
("Key (value)=(ada@example.com) already exists"), and Celery logs a task's exception when it retries
and when it fails, traceback and all; an access log line holds the address of an admin list
searched by email (?q=ada%40example.com). RedactPersonalData is a logging filter on every handler
(settings.LOGGING for the web processes and runserver's request log, console/celery.py for the
workers, gunicorn.conf.py for gunicorn's access log) that replaces them in the message, its
arguments and the traceback. Names cannot be told from other words: they are kept out by never
logging customers, and by searches that leave the URL (console/views/search.py).
"""

import logging
import re

from gunicorn.glogging import Logger as GunicornLogger

# An address as written, or URL-encoded in a logged address (%40 for @).
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# International numbers (how the console stores phones: +4915112345678, "+1 555 010 9999"), and
# North American ones as shops send them ((555) 010-9999); never ids, dates, amounts or addresses.
PHONE = re.compile(r"(?:\+|%2B)\d[\d ().-]{6,}\d|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")
# The value of a search parameter in an address or a query string: the console's search (q) and the
# admin's (q, and term for its autocomplete).
SEARCH = re.compile(r"((?:^|[?&])(?:q|term)=)[^&\s\"']*")


def redact(text):
    text = SEARCH.sub(r"\1[search]", text)
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


class RedactPersonalData(logging.Filter):
    """Rewrites each record's message, and its traceback, without emails, phones or search terms."""

    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger):
    """Put the filter on each of the logger's handlers (handler filters see propagated records too)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactPersonalData) for f in handler.filters):
            handler.addFilter(RedactPersonalData())


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger (gunicorn.conf.py names it), its access lines written without search terms,
    emails or phones: the request line, query string and referer are the atoms that carry them."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}

    def setup(self, cfg):
        super().setup(cfg)
        install(self.error_log)
