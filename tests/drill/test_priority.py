"""The drill gives each worker's database sessions its worker's priority (benchmarks/drill/priority.py):
a session named for a worker is set to that worker's nice, once, and a session of another name is left
alone."""

import os
import sys
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from drill.priority import Priorities  # noqa: E402
from drill.processes import session_name  # noqa: E402
from tests.drill.test_upkeep import _url  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_workers_sessions_take_its_nice_and_others_keep_theirs():
    said = []
    priorities = Priorities({"worker-sweeps": 15, "worker-drains": 5, "web": 0}, report=said.append)
    with (psycopg.connect(_url(), application_name=session_name("worker-sweeps")) as sweeps,
          psycopg.connect(_url(), application_name="someone-else") as other):
        sweeps_pid = sweeps.execute("SELECT pg_backend_pid()").fetchone()[0]
        other_pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]
        priorities.renice()
        if said:  # not root nor the postgres user: the sessions keep their priority, and the drill says why
            assert "needs root or the postgres user" in said[0] and priorities.refused
            assert os.getpriority(os.PRIO_PROCESS, sweeps_pid) == 0
            return
        assert os.getpriority(os.PRIO_PROCESS, sweeps_pid) == 15
        assert os.getpriority(os.PRIO_PROCESS, other_pid) == 0
        os.setpriority(os.PRIO_PROCESS, sweeps_pid, 3)  # once set, a session is not looked at again
        priorities.renice()
        assert os.getpriority(os.PRIO_PROCESS, sweeps_pid) == 3
