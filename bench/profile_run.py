"""Where a suite run's time went, read from its Allure results (start/stop of every test, step, fixture).

    python3 bench/profile_run.py DIR/allure-results [--top 10]

Prints: the span from the first test's set-up to the last test's teardown, per worker
(allure's `thread` label: one per xdist worker) how long it was busy, the sum of test
durations, and that sum split by kind of step: the `rcc` fixture's set-up (namespace) and
teardown (cleanup), Pods reaching a phase, "never runs"/"keeps running"/"stays unscheduled"
windows, waits for a run lock, and the rest. Used for issue 13's "profile first".
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

KINDS = (  # first match wins: (kind, words in the step name)
    ("lock wait", ("wait for the run's",)),
    ("window (never runs / keeps running / unscheduled)", ("never runs (", "keeps running", "stays unscheduled")),
    ("decisive failure (sandbox event or Failed)", ("fails visibly",)),
    ("Pod reaches a phase", ("reaches Succeeded", "reaches Running")),
    ("Pod scheduled / event", ("is scheduled", "event ")),
    ("namespace", ("namespace",)),
)


def kind_of(step_name: str) -> str:
    return next((kind for kind, words in KINDS if any(w in step_name for w in words)), "other steps")


def load(results: Path) -> tuple[list[dict], list[dict]]:
    tests, containers = [], []
    for path in results.glob("*.json"):
        data = json.loads(path.read_text())
        if path.name.endswith("-result.json"):
            tests.append(data)
        elif path.name.endswith("-container.json"):
            containers.append(data)
    return tests, containers


def fixture_spans(containers: list[dict], name: str = "rcc") -> tuple[float, float]:
    """Seconds spent in the `rcc` fixture's set-up (befores) and teardown (afters), over all tests."""
    def total(key: str) -> float:
        return sum((x["stop"] - x["start"]) / 1000 for c in containers for x in c.get(key, [])
                   if x.get("name", "").startswith(name) and "start" in x and "stop" in x)

    return total("befores"), total("afters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    tests, containers = load(args.results)
    if not tests:
        raise SystemExit(f"no Allure results in {args.results}")
    spans = [(t["start"], t["stop"]) for t in tests]
    for c in containers:
        spans += [(x["start"], x["stop"]) for x in c.get("befores", []) + c.get("afters", [])
                  if "start" in x and "stop" in x]
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    by_thread: dict[str, float] = defaultdict(float)
    steps: dict[str, float] = defaultdict(float)
    body = 0.0
    for t in tests:
        seconds = (t["stop"] - t["start"]) / 1000
        body += seconds
        thread = next((label["value"] for label in t.get("labels", []) if label["name"] == "thread"), "?")
        by_thread[thread] += seconds
        covered = 0.0
        for step in t.get("steps", []):
            took = (step["stop"] - step["start"]) / 1000
            steps[kind_of(step["name"])] += took
            covered += took
        steps["test body outside steps"] += max(seconds - covered, 0.0)
    setup, teardown = fixture_spans(containers)
    print(f"tests: {len(tests)}; span first set-up -> last teardown: {(last - first) / 1000:.1f} s")
    print(f"sum of test bodies: {body:.1f} s; rcc fixture set-up {setup:.1f} s, teardown {teardown:.1f} s")
    print("test bodies by kind of step:")
    for kind, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<52} {seconds:6.1f} s")
    print("busy per worker (test bodies only):")
    for thread, seconds in sorted(by_thread.items()):
        print(f"  {thread:<30} {seconds:6.1f} s")
    print(f"slowest {args.top} test bodies:")
    for t in sorted(tests, key=lambda t: t["start"] - t["stop"])[:args.top]:
        print(f"  {(t['stop'] - t['start']) / 1000:5.1f} s  {t['name']}")


if __name__ == "__main__":
    main()
