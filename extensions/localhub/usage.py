"""What a project uses: its processes, its memory and the disk space of its home.

The functions that touch /proc, /sys or the file system block; callers run them in a thread.
"""

import asyncio
import os
import time

import psutil

# cpu_percent needs two readings; a short window keeps /smc/api/info quick
CPU_SAMPLE_SECONDS = 0.2

# cgroup v1 writes "unlimited" as a page-aligned 2**63 - 1; anything this large means no limit
UNLIMITED = 2**60


def process_tree(pid: int) -> list[dict]:
    """`pid` and all its descendants, with CPU use (100 = one core) over a short window."""
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    for process in processes:
        try:
            process.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(CPU_SAMPLE_SECONDS)
    tree = []
    for process in processes:
        try:
            with process.oneshot():
                if process.status() == psutil.STATUS_ZOMBIE:
                    # it has ended and holds nothing, only not reaped yet
                    continue
                command = " ".join(process.cmdline()) or process.name()
                tree.append(
                    {
                        "pid": process.pid,
                        "command": command,
                        "cpu_percent": round(process.cpu_percent(None), 1),
                        "rss": process.memory_info().rss,
                    }
                )
        except psutil.Error:
            # it ended while we were looking (a zombie's cmdline raises ZombieProcess)
            continue
    return tree


def memory_cgroup_files(proc_cgroup: str, mountinfo: str) -> list[tuple[str, str]]:
    """(usage file, limit file) pairs of this process's memory cgroup, cgroup v2 first.

    `proc_cgroup` is the text of /proc/self/cgroup and `mountinfo` that of
    /proc/self/mountinfo, so the paths are right inside containers too, where the cgroup
    hierarchy is mounted at its own root.
    """
    v2_path = v1_path = None
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2_path = path
        elif "memory" in controllers.split(","):
            v1_path = path
    v2_files, v1_files = [], []
    for line in mountinfo.splitlines():
        mount, _, filesystem = line.partition(" - ")
        mount_fields, fs_fields = mount.split(), filesystem.split()
        if len(mount_fields) < 5 or len(fs_fields) < 3:
            continue
        mount_root, mount_point = mount_fields[3], mount_fields[4]
        fs_type, super_options = fs_fields[0], fs_fields[2].split(",")
        if fs_type == "cgroup2" and v2_path is not None:
            directory = _cgroup_directory(mount_point, mount_root, v2_path)
            v2_files.append(
                (os.path.join(directory, "memory.current"), os.path.join(directory, "memory.max"))
            )
        elif fs_type == "cgroup" and "memory" in super_options and v1_path is not None:
            directory = _cgroup_directory(mount_point, mount_root, v1_path)
            v1_files.append(
                (
                    os.path.join(directory, "memory.usage_in_bytes"),
                    os.path.join(directory, "memory.limit_in_bytes"),
                )
            )
    return v2_files + v1_files


def _cgroup_directory(mount_point: str, mount_root: str, cgroup_path: str) -> str:
    if mount_root != "/" and (cgroup_path + "/").startswith(mount_root + "/"):
        cgroup_path = cgroup_path[len(mount_root) :]
    return os.path.join(mount_point, cgroup_path.lstrip("/"))


def read_cgroup_memory(files: list[tuple[str, str]]) -> tuple[int, int | None] | None:
    """(bytes used, limit in bytes or None) from the first readable pair of files."""
    for usage_file, limit_file in files:
        try:
            with open(usage_file) as f:
                used = int(f.read().strip())
            with open(limit_file) as f:
                limit_text = f.read().strip()
        except (OSError, ValueError):
            continue
        limit = None if limit_text == "max" else int(limit_text)
        return used, (None if limit is None or limit >= UNLIMITED else limit)
    return None


def own_cgroup_memory() -> tuple[int, int | None] | None:
    """This process's cgroup memory figures, or None when no memory controller is readable."""
    try:
        with open("/proc/self/cgroup") as f:
            proc_cgroup = f.read()
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    except OSError:
        return None
    return read_cgroup_memory(memory_cgroup_files(proc_cgroup, mountinfo))


def memory_report(
    processes_rss: int,
    cgroup: tuple[int, int | None] | None,
    limit_mb: int | None,
    enforced: bool,
) -> dict:
    """Memory used and its limit, in bytes, and where the figures come from.

    A cgroup's figures are the project's only if the cgroup is the project's own: it has a
    memory limit, or the hub says it enforces limits. A cgroup with neither is most likely
    shared with other processes (the hub's service, a login session), so the sum of the
    project's resident sizes is the better answer there.
    """
    configured = None if limit_mb is None else limit_mb * 1024 * 1024
    if cgroup is not None and (cgroup[1] is not None or enforced):
        used, limit = cgroup
        return {"used": used, "limit": configured if limit is None else limit, "source": "cgroup"}
    return {"used": processes_rss, "limit": configured, "source": "processes"}


def tree_usage(root: str, deadline: float) -> tuple[int, bool]:
    """Bytes allocated under `root`, like ``du -sx``, and whether the walk finished.

    Hard links count once and other file systems mounted inside are not entered. The walk
    stops at `deadline` (a time.monotonic() value) with what it has counted so far.
    """
    try:
        device = os.stat(root).st_dev
    except OSError:
        return 0, True
    total = 0
    seen_links = set()
    folders = [root]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                if time.monotonic() > deadline:
                    return total, False
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_dev != device:
                    continue
                if st.st_nlink > 1 and not entry.is_dir(follow_symlinks=False):
                    if (st.st_dev, st.st_ino) in seen_links:
                        continue
                    seen_links.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
    return total, True


class DiskUsage:
    """Disk use of a folder, measured in a thread, time-bounded and cached.

    Concurrent requests share one measurement, so a burst of info requests walks the home
    once.
    """

    def __init__(self):
        self._measured: dict[str, tuple[float, dict]] = {}
        self._running: dict[str, asyncio.Future] = {}

    async def measure(self, root: str, max_age: float, timeout: float) -> dict:
        """{"used": bytes, "complete": bool}; complete is false when the walk timed out."""
        cached = self._measured.get(root)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        running = self._running.get(root)
        if running is None:
            running = asyncio.ensure_future(self._walk(root, timeout))
            self._running[root] = running
            running.add_done_callback(lambda _: self._running.pop(root, None))
        return await asyncio.shield(running)

    async def _walk(self, root: str, timeout: float) -> dict:
        used, complete = await asyncio.to_thread(tree_usage, root, time.monotonic() + timeout)
        result = {"used": used, "complete": complete}
        self._measured[root] = (time.monotonic(), result)
        return result
