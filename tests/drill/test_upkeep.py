"""The drill does autovacuum's work for its own database where the server runs without it
(benchmarks/drill/upkeep.py): a table past autovacuum's thresholds is analyzed and vacuumed, one that
is not is left alone, and with autovacuum on nothing is done."""

import sys
import time
from pathlib import Path

import pytest
from django.db import connection

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from drill.upkeep import Upkeep, _seconds  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
DEFAULTS = {"autovacuum": "off", "autovacuum_naptime": "1min", "autovacuum_vacuum_threshold": "50",
            "autovacuum_vacuum_scale_factor": "0.2", "autovacuum_vacuum_insert_threshold": "1000",
            "autovacuum_vacuum_insert_scale_factor": "0.2", "autovacuum_analyze_threshold": "50",
            "autovacuum_analyze_scale_factor": "0.1", "autovacuum_vacuum_cost_delay": "2ms",
            "autovacuum_vacuum_cost_limit": "-1"}


def _url():
    d = connection.settings_dict
    password = f":{d['PASSWORD']}" if d.get("PASSWORD") else ""
    return f"postgresql://{d['USER']}{password}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


def _upkeep(**settings):
    upkeep = Upkeep(_url(), report=lambda text: None)
    upkeep.settings = {**DEFAULTS, **settings}
    return upkeep


def test_thresholds_are_autovacuums_own():
    upkeep = _upkeep()
    # 1,000 rows known: analyze past 50 + 100 changed, vacuum past 50 + 200 dead or 1,000 + 200 inserted
    assert upkeep.due([("t", 1000.0, 250, 0, 150)]) == []
    assert upkeep.due([("t", 1000.0, 251, 0, 151)]) == [("t", True, True)]
    assert upkeep.due([("t", 1000.0, 0, 1201, 0)]) == [("t", True, False)]
    assert upkeep.due([("t", 0.0, 0, 0, 51)]) == [("t", False, True)]  # never analyzed: the thresholds alone
    assert [_seconds(v) for v in ("1min", "15s", "2ms", "30")] == [60, 15, 0.002, 30]


def test_a_grown_table_gets_statistics_and_a_quiet_one_is_left_alone():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE drill_upkeep_grown (n integer)")
        cursor.execute("CREATE TABLE drill_upkeep_quiet (n integer)")
        cursor.execute("INSERT INTO drill_upkeep_grown SELECT generate_series(1, 3000)")
        cursor.execute("INSERT INTO drill_upkeep_quiet VALUES (1)")
    try:
        deadline = time.monotonic() + 10  # a session's counts reach the statistics within a second or so
        while time.monotonic() < deadline and not _stat("n_mod_since_analyze", "drill_upkeep_grown"):
            time.sleep(0.2)
        upkeep = _upkeep()
        upkeep.round()
        assert _tuples("drill_upkeep_grown") == 3000  # analyzed: the planner knows its rows
        assert _tuples("drill_upkeep_quiet") == -1  # below the thresholds: never analyzed
        assert upkeep.analyzed >= 1 and upkeep.vacuumed >= 1  # 3,000 inserted is past the insert threshold too
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE drill_upkeep_grown, drill_upkeep_quiet")


def test_it_takes_over_only_where_the_server_has_autovacuum_off():
    upkeep = Upkeep(_url(), report=lambda text: None)
    said = upkeep.needed()
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        assert said is (cursor.fetchone()[0] == "off")


def _stat(column, table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM pg_stat_user_tables WHERE relname = %s", [table])
        row = cursor.fetchone()
    return row[0] if row else 0


def _tuples(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]
