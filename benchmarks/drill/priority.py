"""The workers' database sessions run at their worker's priority: the deliveries' at nice 5, the
sweeps' and the CRM's at nice 15.

On this one machine PostgreSQL shares the two cores with everything else, and each session is a
process at nice 0 whoever opened it: a sweep's or the CRM's query then takes the CPU from a page a
person waits for, or from the deliveries, however low its worker runs. A deployment on one host gives
the database's work the priority of whoever asked for it (an extension such as pg_prioritize, or
this); one with a database server of its own has the same choice there. The drill names each worker's
sessions (PGAPPNAME, processes.worker_argv) and sets each session to its worker's nice every couple
of seconds (a session opened after a fault is found on the next look).
Setting another user's process's priority needs root or the postgres user: without it the sessions
keep nice 0, and the drill says so once.
"""

import os
import threading

from drill.dbsafe import database_errors, fresh_connection
from drill.processes import session_name

EVERY = 2.0


class Priorities:
    def __init__(self, nice_of, report):
        self.nice_of = {session_name(worker): nice for worker, nice in nice_of.items() if nice}
        self.report, self.done, self.refused = report, set(), False
        self.stopping = threading.Event()

    def loop(self):
        while not self.stopping.wait(EVERY):
            try:
                fresh_connection()
                self.renice()
            except database_errors():
                pass  # the connection fault: the next look reconnects

    def renice(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid, backend_start, application_name FROM pg_stat_activity "
                           "WHERE datname = current_database() AND application_name = ANY(%s)", [list(self.nice_of)])
            sessions = cursor.fetchall()
        for pid, started, name in sessions:
            if (pid, started) in self.done or self.refused:
                continue
            try:
                os.setpriority(os.PRIO_PROCESS, pid, self.nice_of[name])
            except ProcessLookupError:
                continue  # ended meanwhile
            except PermissionError:
                self.refused = True
                self.report("  (the workers' database sessions keep nice 0: setting another user's "
                            "process's priority needs root or the postgres user)")
                return
            self.done.add((pid, started))  # a pid the system hands out again is another session
