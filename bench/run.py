"""`make bench`: run every benchmark, print one table, and append it to bench/RESULTS.md with the date
and the machine. Not part of `make test`. Each benchmark also runs alone (`python bench/<name>.py`).

Memory (benchmark 5) is measured inside the others: the gunicorn web worker's peak RSS during the
timeline benchmark and the Celery worker's during the reconciliation pass (and the callbacks run).
"""

from __future__ import annotations

import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.common import Result  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main() -> int:
    from bench import callbacks, reconcile, timeline, webhooks

    results: list[Result] = []
    started = time.perf_counter()
    for module in (timeline, webhooks, reconcile, callbacks):
        name = module.__name__.rsplit(".", 1)[-1]
        print(f"== {name}", flush=True)
        t = time.perf_counter()
        try:
            result = module.run()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            result = Result(name)
            result.add(
                "benchmark crashed",
                None,
                goal="runs",
                passed=False,
                note=f"{type(exc).__name__}: {exc}"[:200],
            )
        result.extra.append(f"  ({name}: {time.perf_counter() - t:.0f} s)")
        common.print_result(result)
        results.append(result)

    text = common.table(results)
    failed = sum(1 for r in results for row in r.rows if row.passed is False)
    passed = sum(1 for r in results for row in r.rows if row.passed is True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print()
    print(text)
    print(f"\nbench: {passed} goals met, {failed} missed, in {time.perf_counter() - started:.0f} s")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(f"\n## {stamp}, {common.machine()}\n\n{text}\n\n")
        for result in results:
            for line in result.extra:
                out.write(f"    {line.strip()}\n")
        out.write(f"\n{passed} goals met, {failed} missed.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
