"""The tables: each figure for smchub and stock JupyterHub, their ratio, and the target;
then the proxy rows, smchub behind configurable-http-proxy and behind HAProxy side by
side (with stock JupyterHub, behind configurable-http-proxy, where it was measured)."""

TARGETS = {
    "cold_start_ratio": 0.15,
    "at_once_10_seconds": 4.0,
    "at_once_50_seconds": 20.0,
    "idle_pss_mib": 40.0,
    "api_p95_ms": 50.0,
    "api_p99_ms": 50.0,
    "loop_stall_ms": 50.0,
    "proxy_ratio": 1.3,
    # issue 20: what HAProxy is chosen for
    "proxy_contents_ratio": 1.15,
    "incremental_snapshot_seconds": 5.0,
    "course_page_ms": 1000.0,
    "autograde_seconds": 60.0,
}


def _fmt(value, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{value}{unit}"


def rows(results):
    """[(measurement, smchub, stock, ratio, target, met)] from the results dict."""
    out = []
    smc, stock = results.get("smchub", {}), results.get("stock", {})

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    if "cold_start" in smc:
        a, b = (
            smc["cold_start"]["median_seconds"],
            stock.get("cold_start", {}).get("median_seconds"),
        )
        r = ratio(a, b)
        failures = smc["cold_start"]["failures"]
        out.append((
            f"cold start, median of {smc['cold_start']['runs']} (s)", _fmt(a), _fmt(b),
            _fmt(r, "x"), "<= 0.15x stock",
            r is not None and r <= TARGETS["cold_start_ratio"] and not failures,
        ))  # fmt: skip
    for count in (10, 50):
        key = f"at_once_{count}"
        if key not in smc:
            continue
        a, b = smc[key], stock.get(key, {})
        limit = TARGETS[f"at_once_{count}_seconds"]
        out.append((
            f"{count} at once: all ready (s) / failures",
            f"{_fmt(a['wall_seconds'])} / {a['failures']}",
            f"{_fmt(b.get('wall_seconds'))} / {b.get('failures', '-')}",
            _fmt(ratio(a["wall_seconds"], b.get("wall_seconds")), "x"),
            f"<= {limit:g} s, 0 failures",
            a["wall_seconds"] <= limit and a["failures"] == 0,
        ))  # fmt: skip
    for count in (10, 50):
        key = f"at_once_{count}"
        memory = smc.get(key, {}).get("memory")
        if not memory:
            continue
        other = stock.get(key, {}).get("memory", {})
        a, b = memory["pss_per_server_mib"], other.get("pss_per_server_mib")
        out.append((
            f"idle PSS per server, {memory['servers']} running (MiB)", _fmt(a), _fmt(b),
            _fmt(ratio(a, b), "x"), "<= 40 MiB", a <= TARGETS["idle_pss_mib"],
        ))  # fmt: skip
    api = results.get("api", {})
    users = api.get("GET /hub/api/users/<name>")
    for label in ("GET /hub/api/projects", "GET /hub/api/projects/<id>"):
        if label not in api or not users:
            continue
        mine = api[label]
        a = mine["throughput"]["requests_per_second"]
        b = users["throughput"]["requests_per_second"]
        out.append((
            f"{label}: req/s, 20 clients (vs users/<name>)", _fmt(a), _fmt(b),
            _fmt(ratio(a, b), "x"), ">= 1x", a >= b and not mine["throughput"]["errors"],
        ))  # fmt: skip
        lat, ref = mine["latency"], users["latency"]
        # p95 from the first round of targets; p99 from the issue on event-loop stalls
        out.append((
            f"{label}: p50/p95/p99 ms at 100 req/s",
            f"{_fmt(lat['p50_ms'])}/{_fmt(lat['p95_ms'])}/{_fmt(lat['p99_ms'])}",
            f"{_fmt(ref['p50_ms'])}/{_fmt(ref['p95_ms'])}/{_fmt(ref['p99_ms'])}",
            _fmt(ratio(lat["p95_ms"], ref["p95_ms"]), "x"), "p95, p99 <= 50 ms",
            lat["p95_ms"] is not None and lat["p95_ms"] <= TARGETS["api_p95_ms"]
            and lat["p99_ms"] <= TARGETS["api_p99_ms"] and not lat["errors"],
        ))  # fmt: skip
        stalls = lat.get("loop_stalls")
        if stalls:
            # the generator's own lateness is charged to the hub: shown beside it
            out.append((
                f"{label}: loop stalls > 50 ms / longest (sender late p99)",
                f"{stalls['over_50_ms']} / {_stall_bound(stalls)} "
                f"({_fmt(lat.get('sent_late_p99_ms'))} ms)", "", "", "", None,
            ))  # fmt: skip
    if api.get("longest_loop_stall_ms") is not None:
        longest = api["longest_loop_stall_ms"]
        out.append((
            "longest event-loop stall of the API hub, warm-up included (ms)",
            _fmt(longest), "", "", "", None,
        ))  # fmt: skip
    out += _snapshot_rows(results.get("snapshots"))
    out += _course_rows(results.get("course_page"))
    out += _autograde_rows(results.get("autograde"))
    out += _failover_rows(results.get("failover"))
    return out


def _failover_rows(failover):
    """smchub only: stock JupyterHub has no standby ("-" in its column)."""
    if not failover:
        return []
    many = failover["with_running_projects"]
    lease = failover["lease_seconds"]
    return [
        (f"failover: API back through HAProxy after SIGKILL of the active hub, median of "
         f"{len(failover['sigkill_seconds'])} (s)",
         _fmt(failover["sigkill_median"]), "-", "", "", None),
        (f"failover: API back after the active hub's database traffic is dropped (lease "
         f"{lease} s), median of {len(failover['database_cut_seconds'])} (s)",
         _fmt(failover["database_cut_median"]), "-", "", "", None),
        (f"failover: API back after the active hub's network link is cut (lease {lease} s), "
         f"median of {len(failover['link_cut_seconds'])} (s)",
         _fmt(failover["link_cut_median"]), "-", "", "", None),
        (f"failover with {many['projects']} running projects: API back / all running "
         "again (s)",
         f"{_fmt(many['api_seconds'])} / {_fmt(many['all_running_seconds'])}", "-", "",
         f"< {failover['target_seconds']} s", failover["target_met"]),
    ]  # fmt: skip


def _autograde_rows(grading):
    """smchub only: stock JupyterHub has no courses ("-" in its column)."""
    if not grading:
        return []
    limit = TARGETS["autograde_seconds"]
    wall, failures = grading["wall_seconds"], len(grading["failures"])
    return [
        (f"autograde, {grading['students']} students x {grading['test_cells']} test cells: "
         "job wall (s) / failures; peak PSS of the hub's tree / MemAvailable drop (MiB)",
         f"{_fmt(wall)} / {failures}; {_fmt(grading['peak_pss_mib'])} / "
         f"{_fmt(grading['mem_available_drop_mib'])}", "-", "", "< 60 s, 0 failures",
         wall < limit and failures == 0
         and grading["scores_as_expected"] == grading["students"]),
    ]  # fmt: skip


def _course_rows(course):
    """smchub only: stock JupyterHub has no courses ("-" in its column)."""
    if not course:
        return []
    size = f"{course['students']} students x {course['assignments']} assignments"
    limit = TARGETS["course_page_ms"]
    api, render = course["api_get_median_ms"], course["render_median_ms"]
    return [
        (f"course page, {size}: data load, GET /hub/api/courses/<id>, median (ms)",
         _fmt(api), "-", "", "< 1 s", api < limit),
        (f"course page, {size}: browser render after the data (ms); grid painted "
         "from navigation", f"{_fmt(render)}; {_fmt(course['painted_median_ms'])}", "-", "",
         "< 1 s", render < limit),
    ]  # fmt: skip


def _snapshot_rows(snap):
    """smchub only: stock JupyterHub has no snapshots ("-" in its column)."""
    if not snap:
        return []
    out = []
    home = snap.get("home_1gib")
    if home:
        out.append((
            "snapshot of a 1 GiB home (1,000 files), the first (s)",
            _fmt(home["full"]["seconds"]), "-", "", "", None,
        ))  # fmt: skip
        median = home["incremental_median_seconds"]
        out.append((
            f"snapshot of it after 1% changed, median of {len(home['incremental'])} (s)",
            _fmt(median), "-", "", "< 5 s", median < TARGETS["incremental_snapshot_seconds"],
        ))  # fmt: skip
    folder = snap.get("restore_100mb")
    if folder:
        restore, copy = folder["restore_median_seconds"], folder["copy_median_seconds"]
        out.append((
            f"100 MB folder: restore / copy between projects, median of "
            f"{len(folder['restore_seconds'])} (s)",
            f"{_fmt(restore)} / {_fmt(copy)}", "-", _fmt(round(restore / copy, 3), "x"),
            "restore < copy", restore < copy,
        ))  # fmt: skip
    course = snap.get("shared_course")
    if course:
        mib = course["repository_growth_bytes"] / 2**20
        out.append((
            f"repository growth, {course['projects']} projects with the same "
            f"{course['course_bytes'] / 2**20:.0f} MiB (MiB)",
            f"{_fmt(mib)} ({_fmt(course['growth_per_one_copy'], 'x')} one copy)", "-",
            "", "", None,
        ))  # fmt: skip
    return out


PROXIES = (("smchub", "CHP"), ("smchub-haproxy", "HAProxy"))


def proxy_rows(results):
    """[(measurement, CHP, HAProxy, stock, target, met, better)] for the proxy rows.

    `met` is a pair (CHP's, HAProxy's), None where there is no target; `better` names
    the proxy with the better figure of the two smchub hubs.
    """
    figures = [results.get(kind, {}).get("proxy") or {} for kind, _ in PROXIES]
    stock = results.get("stock", {}).get("proxy") or {}
    if not any(figures) and not stock:
        return []
    out = []
    # contents GET: issue 20's 1.15x; kernel execute: the first round's 1.3x; the
    # terminal is there to compare
    for key, label, limit in (("contents_get", "contents GET", TARGETS["proxy_contents_ratio"]),
                              ("kernel_execute", "kernel execute", TARGETS["proxy_ratio"]),
                              ("terminal_command", "terminal command", None)):  # fmt: skip
        each = [f.get(key) for f in (*figures, stock)]
        if not any(each):
            continue
        out.append((
            f"proxy overhead, {label}: through/straight",
            *(_overhead(x) for x in each),
            f"<= {limit:g}x" if limit else "",
            tuple(x["ratio"] <= limit if x else None for x in each[:2]) if limit else None,
            _better([x["ratio"] if x else None for x in each[:2]], lower=True),
        ))  # fmt: skip
    loads = [f.get("load") or {} for f in figures]
    if not any(loads):
        return out
    runs = [x.get("throughput", {}) for x in loads]
    clients = next((x["through"]["clients"] for x in runs if x), 0)
    out.append((
        f"{clients} clients, contents GET: req/s through / errors (straight req/s, ratio)",
        *(_throughput(x) for x in runs), "-", "0 errors",
        tuple(not x["through"]["errors"] if x else None for x in runs),
        # against the same server's straight rate: one project server is the limit, and
        # what the machine's other work leaves it differs from hub to hub
        _better([_rate_ratio(x) if x else None for x in runs], lower=False),
    ))  # fmt: skip
    cpu = [x["through"]["proxy_cpu_ms_per_1000"] if x else None for x in runs]
    out.append((
        f"{clients} clients: the proxy's CPU per 1,000 requests (ms)",
        *(_fmt(x) for x in cpu), "-", "", None, _better(cpu, lower=True),
    ))  # fmt: skip
    sockets = [x.get("websockets") for x in loads]
    wanted = next((x["wanted"] for x in sockets if x), 0)
    out.append((
        f"{wanted:,} idle websockets: opened / still echoing (s to open)",
        *(_sockets(x) for x in sockets), "-", f"{wanted:,}, 0 failures",
        tuple(x["opened"] == x["echoed_after"] == x["wanted"] if x else None
              for x in sockets),
        "-",
    ))  # fmt: skip
    out.append((
        f"the proxy's RSS / PSS (MiB), idle -> {wanted:,} websockets open",
        *(_memory(x) for x in loads), "-", "", None,
        _better([x.get("memory_with", {}).get("pss_mib") for x in loads], lower=True),
    ))  # fmt: skip
    per_socket = [_pss_per_websocket(x) for x in loads]
    out.append((
        "  the proxy's PSS per open websocket (KiB)",
        *(_fmt(x) for x in per_socket), "-", "", None, _better(per_socket, lower=True),
    ))  # fmt: skip
    out.append((
        f"contents GET through the proxy at 50 req/s, p50/p95 ms: {wanted:,} open (none)",
        *(_latency(x) for x in loads), "-", "", None,
        _better([x.get("latency_with", {}).get("p95_ms") for x in loads], lower=True),
    ))  # fmt: skip
    # the machine is shared: a window the other work kept busy is slower whatever the proxy
    out.append((
        "  in those windows: machine busy % / the proxy's CPU %: open (none)",
        *(_window_cpu(x) for x in loads), "-", "", None, "-",
    ))  # fmt: skip
    return out


def _pss_per_websocket(load):
    before, with_ = load.get("memory_before"), load.get("memory_with")
    opened = load.get("websockets", {}).get("opened")
    if not before or not with_ or not opened:
        return None
    return round((with_["pss_mib"] - before["pss_mib"]) * 1024 / opened, 1)


def _window_cpu(load):
    before, with_ = load.get("latency_before"), load.get("latency_with")
    if not before or "machine_busy_percent" not in before or not with_:
        return "-"
    return "{}/{} ({}/{})".format(
        *(_fmt(window[key]) for window in (with_, before)
          for key in ("machine_busy_percent", "proxy_cpu_percent"))
    )  # fmt: skip


def _overhead(x):
    if not x:
        return "-"
    return f"{_fmt(x['ratio'], 'x')} ({_fmt(x['through_ms'])}/{_fmt(x['straight_ms'])} ms)"


def _throughput(run):
    if not run:
        return "-"
    through, straight = run["through"], run["straight"]
    rates = (_fmt(through["requests_per_second"]), _fmt(straight["requests_per_second"]))
    return f"{rates[0]} / {through['errors']} ({rates[1]}, {_fmt(_rate_ratio(run), 'x')})"


def _rate_ratio(run):
    return round(run["through"]["requests_per_second"]
                 / max(run["straight"]["requests_per_second"], 0.1), 2)  # fmt: skip


def _sockets(x):
    if not x:
        return "-"
    return f"{x['opened']} / {x.get('echoed_after', '-')} ({_fmt(x['open_seconds'])} s)"


def _memory(load):
    before, with_ = load.get("memory_before"), load.get("memory_with")
    if not before or not with_:
        return "-"
    return (f"{_fmt(before['rss_mib'])} / {_fmt(before['pss_mib'])} -> "
            f"{_fmt(with_['rss_mib'])} / {_fmt(with_['pss_mib'])}")  # fmt: skip


def _latency(load):
    before, with_ = load.get("latency_before"), load.get("latency_with")
    if not before or not with_:
        return "-"
    errors = before["errors"] + with_["errors"]
    return (f"{_fmt(with_['p50_ms'])}/{_fmt(with_['p95_ms'])} "
            f"({_fmt(before['p50_ms'])}/{_fmt(before['p95_ms'])})"
            + (f", {errors} errors" if errors else ""))  # fmt: skip


def _better(pair, lower):
    """Which proxy has the better figure ("-" when one is missing or they tie)."""
    a, b = pair
    if a is None or b is None or a == b:
        return "-"
    return "CHP" if (a < b) == lower else "HAProxy"


def _stall_bound(stalls):
    """The longest stall in a window: exact if it was the hub's longest yet, else the
    upper bound of the histogram bucket it fell in."""
    if stalls["longest_grew"]:
        return f"{_fmt(stalls['longest_since_start_ms'])} ms"
    if stalls["longest_at_most_ms"] is None:
        return "-"
    return f"<= {_fmt(stalls['longest_at_most_ms'])} ms"


def _met(ok):
    return "-" if ok is None else "yes" if ok else "NO"


def table(results):
    header = ("measurement", "smchub", "stock JupyterHub", "ratio", "target", "met?")
    lines = [(m, a, b, r, t, _met(ok)) for m, a, b, r, t, ok in rows(results)]
    tables = [_markdown(header, lines)] if lines else []
    proxy_lines = [
        (m, a, b, c, t, "-" if met is None else " / ".join(_met(ok) for ok in met), better)
        for m, a, b, c, t, met, better in proxy_rows(results)
    ]
    if proxy_lines:
        header = ("proxy", "smchub (CHP)", "smchub (HAProxy)", "stock JupyterHub (CHP)",
                  "target", "met? CHP / HAProxy", "better")  # fmt: skip
        tables.append(_markdown(header, proxy_lines))
    return "\n\n".join(tables)


def _markdown(header, lines):
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(header), rule, *(fmt(row) for row in lines)])
