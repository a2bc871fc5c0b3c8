"""The drill starts each process in a session of its own (benchmarks/drill/processes.py), and where Linux
schedules sessions as groups (autogroups) it gives a worker's session its worker's weight, at its start
and again at a restart (the faults restart what they kill); a process started without one keeps the
kernel's default."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from drill.processes import Processes  # noqa: E402


def _group(pid):
    """(the scheduler group's name, its nice), or None on a kernel without autogroups."""
    path = Path(f"/proc/{pid}/autogroup")
    if not path.exists():
        return None
    name, _, nice = path.read_text().split()
    return name, int(nice)


def test_a_workers_session_weighs_as_its_nice_and_keeps_it_when_restarted(tmp_path):
    procs = Processes(tmp_path / "logs", env={"PATH": "/usr/bin:/bin"})
    try:
        worker = procs.start("worker", ["sleep", "60"], nice=7)
        plain = procs.start("plain", ["sleep", "60"])
        if _group(worker.pid) is None:  # nothing to weigh: the start must still work
            assert procs.alive("worker") and procs.alive("plain")
            return
        assert _group(worker.pid)[1] == 7
        assert _group(plain.pid)[1] == 0
        assert _group(worker.pid)[0] != _group(plain.pid)[0]  # each its own session, its own group
        procs.kill("worker")
        again = procs.restart("worker")
        assert again.pid != worker.pid and _group(again.pid)[1] == 7
    finally:
        procs.stop_all()
