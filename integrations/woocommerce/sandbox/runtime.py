"""Serving a store: the HTTP server thread and the optional ticker (mixed into SandboxStore)."""

import threading
from contextlib import contextmanager


class RuntimeMixin:
    def _init_runtime(self):
        self._server = None
        self._ticker = None
        self._stopping = threading.Event()
        self.cafile = None
        self.oauth_nonces = {}
        self.tick_errors = []

    @property
    def url(self):
        """Base URL of the store (what the console stores as the shop URL)."""
        return self.base_url

    def start(self, host="127.0.0.1", port=0, *, tls=False, tick_seconds=None, deliver=True,
              verbose=False, public_url=None, on_tick=None):
        """Serve on host:port (0 = ephemeral) in a daemon thread. With tick_seconds, a second
        thread advances the shop one step per interval and (deliver=True) sends webhooks."""
        from .server import SandboxServer

        self._server = SandboxServer(self, host, port, tls=tls, verbose=verbose, public_url=public_url)
        self.cafile = self._server.cafile
        self.set_base_url(self._server.url)
        self._server.start()
        if tick_seconds:
            self._stopping.clear()
            self._ticker = threading.Thread(target=self._tick_loop, args=(tick_seconds, deliver, on_tick),
                                            name="wc-sandbox-ticker", daemon=True)
            self._ticker.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._ticker:
            self._ticker.join(timeout=10)
            self._ticker = None
        if self._server:
            self._server.stop()
            self._server = None

    def _tick_loop(self, seconds, deliver, on_tick):
        while not self._stopping.wait(seconds):
            try:
                changes = self.advance(1)
                results = self.deliver_pending() if deliver else []
                if on_tick:
                    on_tick(changes, results)
            except Exception as exc:  # keep the demo alive; the error is kept for inspection
                self.tick_errors.append(repr(exc))

    @classmethod
    @contextmanager
    def running(cls, *, host="127.0.0.1", port=0, tls=False, tick_seconds=None, deliver=True,
                verbose=False, **store_options):
        """`with SandboxStore.running(seed=1, orders=250, ...) as store:` — a served store."""
        store = cls(**store_options)
        store.start(host, port, tls=tls, tick_seconds=tick_seconds, deliver=deliver, verbose=verbose)
        try:
            yield store
        finally:
            store.stop()
