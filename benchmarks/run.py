"""Run every benchmark and write benchmarks/results.md (+ results.json).

    .venv/bin/python -m benchmarks.run  # all: retrieval, baseline (10 questions), ingest, scale 10k+100k
    .venv/bin/python -m benchmarks.run --limit 5 --only baseline
    .venv/bin/python -m benchmarks.run --only report         # re-render results.md from the JSON files

Each part writes its own JSON next to this file (retrieval.json, baseline.json, ingest.json,
scale.json); results.md is rendered from whichever exist, so parts can be re-run alone.
Timings are wall-clock on a shared 2-core machine: expect +-20% between runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HERE = ROOT / "benchmarks"
PARTS = ("retrieval", "baseline", "ingest", "scale")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", choices=PARTS + ("report",), default=list(PARTS))
    p.add_argument("--limit", type=int, default=10, help="questions for the (slow) baseline comparison")
    p.add_argument("--docs", type=int, default=0, help="documents for the ingest benchmark (0 = all)")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="scale benchmark sizes")
    args = p.parse_args(argv)
    timings = {}
    for part in PARTS:
        if part not in args.only:
            continue
        t0 = time.perf_counter()
        print(f"== {part}", file=sys.stderr)
        if part == "retrieval":
            from benchmarks import retrieval

            retrieval.main([])
        elif part == "baseline":
            from benchmarks import baseline

            baseline.main(["--limit", str(args.limit)])
        elif part == "ingest":
            from benchmarks import ingest

            ingest.main(["--docs", str(args.docs)])
        elif part == "scale":
            from benchmarks import scale

            scale.main(["--sizes", *map(str, args.sizes), "--server"])
        timings[part] = round(time.perf_counter() - t0, 1)
    from benchmarks import report

    report.main()
    print(f"parts run (s): {timings}; wrote {HERE / 'results.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
