"""Helpers shared by the benchmarks: paths, machine description, percentiles, memory."""
from __future__ import annotations

import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = Path(os.environ.get("ASSISTANT_BENCH_DEV", ROOT.parent / "shared" / "eval" / "dev"))
CACHE = Path(os.environ.get("ASSISTANT_BENCH_CACHE", Path.home() / ".cache" / "assistant-bench"))


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
        info["loadavg_at_start"] = os.getloadavg()[0]
    except OSError:
        pass
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
