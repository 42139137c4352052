"""`python -m benchmarks` (`make bench`): smchub and stock JupyterHub, side by side.

Starts each hub as a subprocess in a temporary folder, measures, stops it, and removes
everything it made (processes, Unix accounts, folders). Prints a table and writes the
figures as JSON (benchmarks/results/latest.json by default).
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

import psutil

from tests import loopback_names

from .api import api_benchmark
from .autograde import autograde_benchmark
from .course_page import course_page_benchmark
from .failover import failover_benchmark
from .hubs import SMCHubUnderTest, SMCHubWithHAProxy, StockJupyterHub, make_root, remove_root
from .proxy import proxy_overhead
from .proxy_load import raise_open_files_limit
from .report import table
from .snapshots import snapshot_benchmark
from .startup import cold_starts, starts_at_once

HERE = os.path.dirname(os.path.abspath(__file__))
# smchub's projects are on origins of their own, <id>.localhost, as a browser finds them
loopback_names.install()
PARTS = ("startup", "proxy", "api", "snapshots", "course", "autograde", "failover")


def say(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")  # fmt: skip
    except OSError:
        pass
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    except OSError:
        node = ""
    from importlib.metadata import version

    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "node": node.strip(),
        "versions": {
            name: version(name)
            for name in ("jupyterhub", "jupyter_server", "jupyterlab", "jupyter-collaboration")
        },
    }


async def measure_hub(hub, options, parts):
    results = {}
    say(f"starting {hub.kind}")
    await hub.start()
    try:
        async with hub.client() as client:
            if "startup" in parts and not hub.proxy_only:
                say(f"{hub.kind}: cold starts")
                results["cold_start"] = await cold_starts(hub, client, options.runs)
                for count in (10, 50):
                    say(f"{hub.kind}: {count} at once")
                    results[f"at_once_{count}"] = await starts_at_once(
                        hub, client, count, measure_memory=True
                    )
            if "proxy" in parts:
                say(f"{hub.kind}: proxy overhead")
                results["proxy"] = await proxy_overhead(hub, client, options.proxy_rounds)
    finally:
        await hub.stop()
        hub.remove_accounts()
    return results


async def run(options):
    parts = set(options.only.split(",")) if options.only else set(PARTS)
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {key: getattr(options, key) for key in ("runs", "proxy_rounds", "only")},
    }
    # other work on the machine skews every figure: the load is recorded with them
    results["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    tic = time.monotonic()
    root = make_root("smchub-bench-")
    try:
        if parts & {"startup", "proxy"}:
            hubs = [SMCHubUnderTest, StockJupyterHub]
            if "proxy" in parts:
                # 5,000 websockets: a descriptor each here, two each in the proxy, which
                # the hubs started next inherit
                results["open_files_limit"] = raise_open_files_limit()
                hubs.insert(1, SMCHubWithHAProxy)
            for cls in hubs:
                hub = cls(os.path.join(root, cls.kind))
                results[hub.kind] = await measure_hub(hub, options, parts)
        if "api" in parts:
            say("api: filling a database with 10,000 projects and 1,000 people")
            results["api"] = await api_benchmark(
                root, people=1000, projects=10000, clients=20, rate=100,
                throughput_seconds=options.api_seconds, latency_seconds=2 * options.api_seconds,
            )  # fmt: skip
        if "snapshots" in parts:
            # smchub only: stock JupyterHub has no snapshots
            say("snapshots: a 1 GiB home, a 100 MB folder, 100 projects sharing a course")
            results["snapshots"] = await snapshot_benchmark(root)
        if "course" in parts:
            # smchub only: stock JupyterHub has no courses
            say("course: the course page of 300 students and 20 assignments")
            results["course_page"] = await course_page_benchmark(root)
        if "autograde" in parts:
            # smchub only: stock JupyterHub has no courses
            say("autograde: 50 students' notebooks with 10 test cells each")
            results["autograde"] = await autograde_benchmark(root)
        if "failover" in parts:
            # smchub only: stock JupyterHub cannot share its database with a standby
            say("failover: two hubs on PostgreSQL, the active one killed or cut off")
            results["failover"] = await failover_benchmark(
                root, say, projects=options.failover_projects
            )
    finally:
        if options.keep_logs:
            keep_logs(root, options.keep_logs)
        remove_root(root)
    results["total_seconds"] = round(time.monotonic() - tic, 1)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def keep_logs(root, folder):
    """Copy each hub's log (hub.log of every hub under `root`) into `folder`."""
    os.makedirs(folder, exist_ok=True)
    for kind in sorted(os.listdir(root)):
        log = os.path.join(root, kind, "hub.log")
        if os.path.exists(log):
            shutil.copy(log, os.path.join(folder, f"{kind}.log"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default="", help=f"comma-separated parts of {PARTS}")
    parser.add_argument("--runs", type=int, default=7, help="cold starts per hub (median)")
    parser.add_argument("--proxy-rounds", type=int, default=300, help="requests each way")
    parser.add_argument("--api-seconds", type=float, default=5, help="throughput run length")
    parser.add_argument(
        "--failover-projects", type=int, default=200, help="running projects at the kill"
    )
    parser.add_argument("--keep-logs", default="", help="copy the hubs' logs to this folder")
    parser.add_argument(
        "--output", default=os.path.join(HERE, "results", "latest.json"), help="JSON file"
    )
    options = parser.parse_args(argv)
    results = asyncio.run(run(options))
    os.makedirs(os.path.dirname(os.path.abspath(options.output)), exist_ok=True)
    with open(options.output, "w") as f:
        json.dump(results, f, indent=2)
    m = results["machine"]
    print(f"\nsmchub vs stock JupyterHub {m['versions']['jupyterhub']}, {results['date']}, "
          f"{m['cores']} cores, Linux {m['kernel']}, Python {m['python']}\n")  # fmt: skip
    print(table(results))
    print(f"\n{results['total_seconds']} s in all; load average {results['load_average_at_start']}"
          f" at the start; figures in {options.output}")  # fmt: skip


if __name__ == "__main__":
    main()
