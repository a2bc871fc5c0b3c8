"""Run every benchmarks/bench_*.py in turn and print the figures they report.

    .venv/bin/python benchmarks/run.py            # all of them
    .venv/bin/python benchmarks/run.py handoffs   # only scripts whose name contains "handoffs"

Each script runs as its own process with this Python, its output streamed as it comes. A script
reports its figure as one line:
    FIGURE <name>: <value> <unit> (budget <op> <budget> <unit>) PASS|FAIL
A FAIL against a budget is a measurement, not an error; the exit status is non-zero only when a
script itself failed (non-zero exit) or none matched.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script):
    """Run one script, echoing its output; return (exit code, its FIGURE lines, seconds)."""
    print(f"=== {script.name}", flush=True)
    started = time.perf_counter()
    figures = []
    with subprocess.Popen([sys.executable, "-u", str(script)], cwd=HERE.parent, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith("FIGURE"):
                figures.append(line.strip())
    return proc.returncode, figures, time.perf_counter() - started


def main(argv):
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not argv or any(a in p.stem for a in argv))
    if not scripts:
        print(f"no benchmarks/bench_*.py matches {argv}")
        return 2
    results = [(script, *run(script)) for script in scripts]

    print("\n=== figures")
    width = max(len(s.name) for s in scripts)
    for script, code, figures, seconds in results:
        status = "ok" if code == 0 else f"ERROR (exit {code})"
        for figure in figures or ["(no FIGURE line)"]:
            print(f"{script.name:<{width}}  {figure}")
        print(f"{'':<{width}}  {status}, {seconds:.0f} s")
    failed = [s.name for s, code, _, _ in results if code != 0]
    if failed:
        print(f"\n{len(failed)} benchmark(s) failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
