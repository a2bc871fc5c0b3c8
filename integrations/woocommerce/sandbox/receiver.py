"""A tiny local webhook receiver for tests and demos: records raw requests, answers a status.

    with WebhookReceiver() as hook:
        store.create_webhook("order.updated", hook.url, secret="s")
        hook.requests[0].body  # the ping: b"webhook_id=1"
        hook.statuses = [500, 500]  # the next two answers, then `status`
"""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict  # as sent (case preserved); use .header() for case-insensitive lookup
    body: bytes
    answered: int = 0
    raw_headers: list = field(default_factory=list)

    def header(self, name, default=None):
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with receiver.lock:
            status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
            receiver.requests.append(Received("POST", self.path, dict(self.headers.items()), body, status,
                                              list(self.headers.items())))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_PUT = do_POST


class WebhookReceiver:
    def __init__(self, status=200, host="127.0.0.1", port=0):
        self.status, self.statuses, self.requests = status, [], []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.receiver = self
        self.url = f"http://{host}:{self._server.server_port}/hook"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def deliveries(self):
        """Requests that were real deliveries (they carry X-WC-Webhook-Topic), not pings."""
        return [r for r in self.requests if r.header("X-WC-Webhook-Topic")]

    def pings(self):
        return [r for r in self.requests if not r.header("X-WC-Webhook-Topic")]
