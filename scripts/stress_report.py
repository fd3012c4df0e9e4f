"""Summarise the JUnit reports of several runs of the suite (used by ``scripts/stress``).

Prints each test that failed or errored in any run as ``runs/failed  test``, then the slowest
tests by their median time across runs. A run without a report (it stopped before pytest, at
ruff or mypy) is named, so that it is not mistaken for a green one.
"""

from __future__ import annotations

import statistics
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

SLOWEST = 15


def main(paths: list[str]) -> int:
    runs: dict[str, int] = defaultdict(int)
    failures: dict[str, int] = defaultdict(int)
    times: dict[str, list[float]] = defaultdict(list)
    for path in map(Path, paths):
        if not path.exists():
            print(f"{path.name}: no report (the run stopped before pytest finished)")
            continue
        for case in ET.parse(path).iter("testcase"):
            test = f"{case.get('classname', '')}::{case.get('name', '')}"
            runs[test] += 1
            times[test].append(float(case.get("time") or 0.0))
            if case.find("failure") is not None or case.find("error") is not None:
                failures[test] += 1

    print(f"\n{len(runs)} tests; failed in some run: {len(failures)}")
    for test in sorted(failures, key=lambda name: (-failures[name], name)):
        print(f"  {runs[test]}/{failures[test]}  {test}")

    print(f"\nslowest {SLOWEST} tests (median seconds over the runs that reported them):")
    medians = {test: statistics.median(spent) for test, spent in times.items()}
    for test in sorted(medians, key=medians.__getitem__, reverse=True)[:SLOWEST]:
        print(f"  {medians[test]:7.2f}  {test}")
    total = sum(medians.values())
    print(f"  {total:7.2f}  all tests together (median per test, summed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
