"""Running service calls at the same instant on separate database connections (PostgreSQL tests)."""

import threading
import time

from django.db import connection


def race(n, work, timeout=600):
    """Run `work(i)` in n threads released at the same instant; (their results or errors, seconds).

    A thread still running at the deadline shows up as None instead of failing the run silently;
    the deadline is generous for long runs on a busy machine."""
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, timeout - (time.monotonic() - started)))
    return results, time.monotonic() - started
