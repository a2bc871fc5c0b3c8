"""What PostgreSQL's autovacuum does for the drill's database, where the server runs without it.

A deployment's server runs autovacuum: as the month's tables grow from nothing to hundreds of
thousands of rows it analyzes them (the planner's statistics) and vacuums them (the dead versions
each update leaves). This machine's server has it off (CI's configuration, to keep test databases
quiet), and without it every plan of the month is made for empty tables: the deliveries' reads and
the reconciliation's joins slow down as the rows pile up, which no deployment sees. So when the server
says `autovacuum` is off, the drill does its work for its own database, by the server's own autovacuum
settings: every naptime, each table past its thresholds (dead rows, rows inserted since the last
vacuum, rows changed since the last analyze: threshold + scale factor × rows) is vacuumed or analyzed,
one at a time, with autovacuum's cost-based delay. It touches no other database, and nothing when
autovacuum is on.
"""

import threading

from drill.database import libpq_url

SETTINGS = ("autovacuum", "autovacuum_naptime", "autovacuum_vacuum_threshold", "autovacuum_vacuum_scale_factor",
            "autovacuum_vacuum_insert_threshold", "autovacuum_vacuum_insert_scale_factor",
            "autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor", "autovacuum_vacuum_cost_delay",
            "autovacuum_vacuum_cost_limit")
DUE = """
    SELECT s.relid::regclass::text, greatest(c.reltuples, 0),
           s.n_dead_tup, s.n_ins_since_vacuum, s.n_mod_since_analyze
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     ORDER BY s.relid"""


class Upkeep:
    def __init__(self, url, report):
        self.url, self.report = url, report
        self.stopping = threading.Event()
        self.vacuumed, self.analyzed = 0, 0
        self.settings = None

    def needed(self):
        """Whether the server leaves the drill's database to it (autovacuum off); says so once."""
        import psycopg

        with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
            self.settings = {name: conn.execute(f"SELECT current_setting('{name}')").fetchone()[0]
                             for name in SETTINGS}
        if self.settings["autovacuum"] == "on":
            return False
        self.report(f"  (the server's autovacuum is off: the drill vacuums and analyzes its database as autovacuum "
                    f"would, every {self.settings['autovacuum_naptime']})")
        return True

    def loop(self):
        naptime = _seconds(self.settings["autovacuum_naptime"])
        while not self.stopping.wait(naptime):
            self.round()

    def round(self):
        """One visit: each table past its thresholds vacuumed and/or analyzed, one at a time."""
        import psycopg

        try:
            with psycopg.connect(libpq_url(self.url), autocommit=True, application_name="drill-upkeep") as conn:
                self._throttle(conn)
                for table, vacuum, analyze in self.due(conn.execute(DUE).fetchall()):
                    if self.stopping.is_set():
                        return
                    # One process, as an autovacuum worker: no parallel workers for the indexes.
                    what = ("VACUUM (ANALYZE, PARALLEL 0)" if vacuum and analyze else "VACUUM (PARALLEL 0)" if vacuum
                            else "ANALYZE")
                    conn.execute(f"{what} {table}")  # a name read off the catalog, not typed by anyone
                    self.vacuumed += vacuum
                    self.analyzed += analyze
        except psycopg.Error:
            pass  # the connection fault: the next round connects again

    def _throttle(self, conn):
        """Autovacuum's cost-based delay (its settings; -1 there means the plain vacuum's)."""
        delay, limit = self.settings["autovacuum_vacuum_cost_delay"], self.settings["autovacuum_vacuum_cost_limit"]
        if delay != "-1":
            conn.execute("SELECT set_config('vacuum_cost_delay', %s, false)", [delay])
        if limit != "-1":
            conn.execute("SELECT set_config('vacuum_cost_limit', %s, false)", [limit])

    def due(self, stats):
        """[(table, vacuum?, analyze?)] past autovacuum's thresholds."""
        s = {k: float(v) for k, v in self.settings.items() if k.endswith(("threshold", "factor"))}
        found = []
        for table, tuples, dead, inserted, changed in stats:
            vacuum = (dead > s["autovacuum_vacuum_threshold"] + s["autovacuum_vacuum_scale_factor"] * tuples
                      or inserted > s["autovacuum_vacuum_insert_threshold"]
                      + s["autovacuum_vacuum_insert_scale_factor"] * tuples)
            analyze = changed > s["autovacuum_analyze_threshold"] + s["autovacuum_analyze_scale_factor"] * tuples
            if vacuum or analyze:
                found.append((table, vacuum, analyze))
        return found


def _seconds(value):
    """A duration setting as the server shows it ("1min", "60s", "2ms") in seconds."""
    units = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}
    for unit in sorted(units, key=len, reverse=True):
        if value.endswith(unit):
            return float(value[:-len(unit)]) * units[unit]
    return float(value)
