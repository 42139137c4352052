"""(c) Idle memory per project server, as PSS.

PSS (proportional set size, from /proc/<pid>/smaps_rollup) charges each page to the
processes sharing it in equal parts, so pages shared between servers (the code a fork
server imported once, shared libraries) count once over all of them. Per server:

    (PSS of every server's process tree + PSS of the node's helpers) / number of servers

where the helpers are processes that exist for all servers together (smchub's fork
server; stock JupyterHub has none).
"""

import asyncio

import psutil

MIB = 2**20


def pss_bytes(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree(pid):
    """The pid and all its descendants' pids."""
    try:
        process = psutil.Process(pid)
        return [pid, *(child.pid for child in process.children(recursive=True))]
    except psutil.Error:
        return []


async def idle_pss(hub, client, names, settle=5.0):
    """Memory per idle server, `settle` seconds after they were all ready."""
    await asyncio.sleep(settle)
    servers = {}
    for name in names:
        pid = await hub.server_pid(client, name)
        servers[name] = sum(pss_bytes(p) for p in tree(pid))
    helpers = {p.pid: pss_bytes(p.pid) for p in hub.helper_processes()}
    total = sum(servers.values()) + sum(helpers.values())
    count = len(servers)
    return {
        "servers": count,
        "settle_seconds": settle,
        "pss_per_server_mib": round(total / count / MIB, 1) if count else None,
        "pss_servers_only_mib": round(sum(servers.values()) / count / MIB, 1) if count else None,
        "pss_helpers_mib": round(sum(helpers.values()) / MIB, 1),
        "pss_each_mib": sorted(round(v / MIB, 1) for v in servers.values()),
    }
