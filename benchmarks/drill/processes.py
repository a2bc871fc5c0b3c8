"""The drill's processes, each in a session of its own (so a signal reaches a process and its children,
and nothing else on the machine), logging to var/drill/logs/<name>.log: its own redis-server on a free
port, gunicorn, the three Celery workers (WORKERS: queues as CELERY_TASK_ROUTES splits them),
beat, the sandbox CRM and the drill's shop. A restart starts the same command again, as a supervisor
would; the logs are appended to across restarts.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def session_nice(pid, nice):
    """Give the session `pid` leads the scheduler's weight of `nice`, where Linux groups each session's
    processes (sched_autogroup_enabled, the default of desktop and many server kernels): the CPU is
    then shared between sessions first, and a process's own nice counts only against the processes of
    its session, so a worker at nice 15 in a session of its own weighs as much as the web's. Raising
    the nice is every owner's right; a kernel without autogroups has no such file (nothing to do)."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
    except OSError:
        pass


class Processes:
    def __init__(self, logs, env):
        self.logs, self.env = Path(logs), env
        self.logs.mkdir(parents=True, exist_ok=True)
        self.commands, self.procs, self.restarts, self.nices = {}, {}, {}, {}

    def start(self, name, argv, nice=None):
        """Start `argv` in a session of its own; `nice`: that session's weight (session_nice), kept for
        restarts."""
        self.commands[name] = argv
        if nice is not None:
            self.nices[name] = nice
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
        if self.nices.get(name):
            session_nice(self.procs[name].pid, self.nices[name])
        return self.procs[name]

    def alive(self, name):
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def signal(self, name, sig):
        proc = self.procs[name]
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, name, grace=20):
        proc = self.procs.get(name)
        if proc is None:
            return
        self.signal(name, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.signal(name, signal.SIGKILL)
            proc.wait(10)

    def kill(self, name):
        """SIGKILL to the process and its children (a worker's pool), then reap it."""
        self.signal(name, signal.SIGKILL)
        self.procs[name].wait(10)

    def restart(self, name):
        self.restarts[name] = self.restarts.get(name, 0) + 1
        return self.start(name, self.commands[name])

    def stop_all(self):
        for name in reversed(list(self.procs)):
            self.stop(name)


def redis_argv(port, logs):
    """A Redis of the drill's own: no persistence, so a restart loses what it held, as the fault means."""
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", str(logs)]


def gunicorn_argv(port, workers):
    return [str(BIN / "gunicorn"), "console.wsgi", "-w", str(workers), "--bind", f"127.0.0.1:{port}",
            "--backlog", "2048", "--timeout", "120", "--graceful-timeout", "10"]


# The Celery workers: name → (queues, processes), each its own process as CELERY_TASK_ROUTES splits the
# work: the shops' deliveries (and the short follow-ups: one process stays free for them while a store's
# drain runs and its next one waits for the store) on two workers, as a deployment that must not stop
# taking deliveries when one dies runs them (the fault kills the first), the sweeps and imports, the CRM.
WORKERS = {"worker-drains": ("drains,celery", 3), "worker-drains-2": ("drains,celery", 2),
           "worker-sweeps": ("sweeps", 2), "worker-crm": ("crm", 1)}


# The workers yield the CPU to the web process, as the README's deployment advises where they share
# cores: a person waiting for a page comes first, the shops' deliveries next (a customer waits for an
# owner), the sweeps, imports and the CRM's pushes last (nice 15: they catch up when the rush ebbs).
# Their database sessions are named for them (PGAPPNAME), so that the drill gives those their priority too
# (priority.py). Each runs in a session of its own, which Linux may schedule as a group: the drill gives
# the session the same weight (session_nice), else the nice would count for nothing against the web.
WORKER_NICE = {"worker-drains": 5, "worker-drains-2": 5, "worker-sweeps": 15, "worker-crm": 15}


def session_name(worker):
    """What the worker's database sessions are called (pg_stat_activity.application_name)."""
    return f"aftercare-{worker}"


def worker_argv(name):
    queues, concurrency = WORKERS[name]
    return ["env", f"PGAPPNAME={session_name(name)}", "nice", "-n", str(WORKER_NICE[name]), str(BIN / "celery"),
            "-A", "console", "worker", "--queues", queues, "--concurrency", str(concurrency), "--loglevel", "INFO",
            "-n", f"drill-{name.removeprefix('worker-')}@%h", "--without-gossip", "--without-mingle"]


def beat_argv(schedule_dir):
    return [str(BIN / "celery"), "-A", "console", "beat", "--loglevel", "INFO",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            "--pidfile", str(Path(schedule_dir) / "beat.pid")]


def crm_argv(port, token, owner_emails):
    return [sys.executable, "-m", "integrations.crm.sandbox", "--port", str(port), "--token", token,
            "--tier", "professional", "--owners", "0", "--owner-emails", owner_emails]


def shop_argv(config_path):
    return [sys.executable, str(ROOT / "benchmarks" / "drill" / "shop.py"), str(config_path)]
