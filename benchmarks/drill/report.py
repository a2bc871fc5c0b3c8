"""The drill's report: var/drill/report.md and its charts (PNG, matplotlib without a display).

Charts: deliveries the shop sent and the console finished per interval, the backlog of stored
deliveries waiting for a worker, each with the faults marked; how long deliveries waited to be
processed; the probe's screen and lookup times over the month.
"""

import math
from datetime import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def _minutes(t, start):
    return (t - start) / 60


def _mark_faults(ax, faults, start):
    for at, name, _ in faults:
        ax.axvline(_minutes(at, start), color="tab:red", alpha=0.35, linewidth=1)
        ax.text(_minutes(at, start), ax.get_ylim()[1], name, rotation=90, fontsize=6, va="top", color="tab:red")


def throughput_chart(path, samples, sent_times, faults, start, bucket=10.0):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    if sent_times:
        end = max(sent_times)
        bins = max(1, math.ceil((end - start) / bucket))
        counts = [0] * bins
        for t in sent_times:
            counts[min(bins - 1, max(0, int((t - start) // bucket)))] += 1
        top.step([_minutes(start + i * bucket, start) for i in range(bins)], [c / bucket for c in counts],
                 where="post", label="sent by the shop")
    finished = [(s.t, s.finished) for s in samples]
    rates = [((b[1] - a[1]) / (b[0] - a[0])) for a, b in zip(finished, finished[1:]) if b[0] > a[0]]
    top.plot([_minutes(t, start) for t, _ in finished[1:]][:len(rates)], rates, label="processed by the console",
             linewidth=0.8)
    top.set_ylabel("deliveries / s")
    top.legend(fontsize=7)
    bottom.plot([_minutes(s.t, start) for s in samples], [s.waiting for s in samples], color="tab:orange")
    bottom.set_ylabel("deliveries waiting")
    bottom.set_xlabel("minutes into the month")
    for ax in (top, bottom):
        _mark_faults(ax, faults, start)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_chart(path, processing, owned):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.hist([min(s, 30) for s in processing], bins=60, color="tab:blue")
    left.set_xlabel("receipt → processed (s, capped at 30)")
    left.set_yscale("log")
    finite = sorted(min(s, 60) for s in owned if not math.isinf(s))
    if finite:
        right.plot(finite, [i / len(owned) for i in range(1, len(finite) + 1)])
    right.set_xlabel("receipt → owned by an agent (s, capped at 60)")
    right.set_ylabel("share of customers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def probe_chart(path, probe, faults, start):
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for kind, label in (("screen", "customer screen"), ("api", "API lookup")):
        points = probe.samples[kind]
        ax.scatter([_minutes(t, start) for t, _ in points], [ms for _, ms in points], s=3, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("ms")
    ax.set_xlabel("minutes into the month")
    ax.legend(fontsize=7)
    _mark_faults(ax, faults, start)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def probe_csv(path, probe):
    """Every timed answer of the probe (probe.py), for a closer look than the chart's: unix time, which
    read, milliseconds."""
    rows = sorted((t, kind, ms) for kind, points in probe.samples.items() for t, ms in points)
    path.write_text("time,read,ms\n" + "".join(f"{t:.3f},{kind},{ms:.1f}\n" for t, kind, ms in rows))


def markdown(*, args, load, figures, results, faults, start, counts, left_out, settled, charts):
    lines = [f"# The drill: {args.scale:,} customers, a month in {args.minutes:g} minutes",
             "", f"Run {datetime.fromtimestamp(start):%Y-%m-%d %H:%M}; load average {load}; "
             f"beat {args.beat_speedup:g}× faster; command: `{counts['command']}`", ""]
    lines += ["## Invariants", "", "| invariant | count | allowed | note |", "|---|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.name} | {'left out' if r.count is None else r.count} | 0 | {r.note} |")
    broken = [r for r in results if r.count]
    for r in broken:
        lines += ["", f"**{r.name}**: {r.count}; first: " + "; ".join(r.examples)]
    lines += ["", "## Figures", "", "| figure | value | budget | | note |", "|---|---:|---:|---|---|"]
    for f in figures:
        value = "n/a" if f.value is None else ("inf" if math.isinf(f.value) else f"{f.value:.2f} {f.unit}")
        lines.append(f"| {f.name} | {value} | {f.op} {f.budget:g} {f.unit} | {'PASS' if f.passed else 'FAIL'} "
                     f"| {f.note} |")
    lines += ["", "## Faults", ""]
    lines += [f"- {_minutes(at, start):5.1f} min: **{name}**: {detail}" for at, name, detail in faults] or ["- none"]
    lines += ["", "## What happened", ""] + [f"- {k}: {v}" for k, v in counts.items() if k != "command"]
    if settled:
        lines += ["", "## Not caught up at the deadline", ""] + [f"- {name}" for name in settled]
    lines += ["", "## Left out", ""] + [f"- {item}" for item in left_out]
    lines += ["", "## Charts", ""] + [f"![{name}]({name})" for name in charts]
    return "\n".join(lines) + "\n"
