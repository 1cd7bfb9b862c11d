"""Helpers shared by the benchmarks: paths, machine description, percentiles, memory."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _dev_dir() -> Path:
    """The dev set: ASSISTANT_BENCH_DEV, else the team's shared folder beside the checkout, else
    where it lives on these machines (a clone made elsewhere, e.g. under mktemp -d)."""
    if os.environ.get("ASSISTANT_BENCH_DEV"):
        return Path(os.environ["ASSISTANT_BENCH_DEV"])
    for cand in (ROOT.parent / "shared" / "eval" / "dev", Path("/work/shared/eval/dev")):
        if cand.is_dir():
            return cand
    raise SystemExit(f"no dev set at {ROOT.parent / 'shared' / 'eval' / 'dev'}: set ASSISTANT_BENCH_DEV")


DEV = _dev_dir()
CACHE = Path(os.environ.get("ASSISTANT_BENCH_CACHE", Path.home() / ".cache" / "assistant-bench"))


def machine() -> dict:
    """The eval's machine description, plus the load at start (these machines are shared)."""
    from assistant.evaluate import machine as described

    info = described()
    info["loadavg_at_start"] = os.getloadavg()[0]
    return info


def percentile(values, q: float):
    vs = sorted(v for v in values if v is not None)
    if not vs:
        return None
    pos = (len(vs) - 1) * q / 100.0
    lo, hi = int(pos), min(int(pos) + 1, len(vs) - 1)
    return vs[lo] + (vs[hi] - vs[lo]) * (pos - lo)


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default), MiB, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
