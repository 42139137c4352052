"""Memory, CPU and process-count limits for local project servers, with Linux cgroups
(v2 or v1; the pids controller where the kernel offers it).

Each project gets its own group, ``smchub/<project-id>``, under whichever hierarchy the
kernel offers. The server process joins it before it execs (from the child side of the
fork, while still root), so the server, its kernels and terminals, and anything they
start are all inside, and stopping the project can kill the whole group.
"""

import os
import signal

ROOT = "/sys/fs/cgroup"
GROUP = "smchub"
CPU_PERIOD_US = 100_000


class CgroupError(RuntimeError):
    pass


def _writable(path):
    return os.path.isdir(path) and os.access(path, os.W_OK)


def detect(root=ROOT):
    """('v2', [dir]) or ('v1', [memory dir, cpu dir]) where groups can be made, or (None, why)."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        controllers = open(os.path.join(root, "cgroup.controllers")).read().split()
        if {"memory", "cpu"} <= set(controllers) and _writable(root):
            return "v2", [root]
        return None, "cgroup v2 is mounted without writable memory and cpu controllers"
    memory, cpu = os.path.join(root, "memory"), os.path.join(root, "cpu")
    pids = os.path.join(root, "pids")
    if _writable(memory) and _writable(cpu):
        return "v1", [memory, cpu] + ([pids] if _writable(pids) else [])
    return None, f"no writable cgroup memory and cpu hierarchies under {root}"


class ProjectCgroup:
    """The cgroup(s) of one project."""

    def __init__(self, version, roots, project_id):
        self.version = version
        self.project_id = project_id
        self.paths = [os.path.join(root, GROUP, project_id) for root in roots]
        self.roots = roots

    def create(self, memory_mb, cpu, pids_max=None):
        """Make the group with its limits; returns whether the process limit is enforced."""
        for root in self.roots:
            parent = os.path.join(root, GROUP)
            os.makedirs(parent, exist_ok=True)
            if self.version == "v2":
                # children can only use controllers their parent hands down
                for group in (root, parent):
                    control = os.path.join(group, "cgroup.subtree_control")
                    _write(control, "+memory +cpu", quiet=True)
                    _write(control, "+pids", quiet=True)
        for path in self.paths:
            os.makedirs(path, exist_ok=True)
        limit = int(memory_mb) * 2**20
        quota = max(int(cpu * CPU_PERIOD_US), 1000)
        if self.version == "v2":
            (path,) = self.paths
            _write(os.path.join(path, "memory.max"), str(limit))
            _write(os.path.join(path, "memory.swap.max"), "0", quiet=True)
            _write(os.path.join(path, "cpu.max"), f"{quota} {CPU_PERIOD_US}")
        else:
            memory, cpu_path = self.paths[:2]
            # lower the limit only after the usage fits (a fresh group uses nothing)
            _write(os.path.join(memory, "memory.limit_in_bytes"), str(limit))
            _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), str(limit), quiet=True)
            _write(os.path.join(cpu_path, "cpu.cfs_period_us"), str(CPU_PERIOD_US))
            _write(os.path.join(cpu_path, "cpu.cfs_quota_us"), str(quota))
        return self._limit_pids(pids_max)

    def _pids_file(self):
        """The group's pids.max, or None where the pids controller is not available."""
        path = os.path.join(self.paths[0] if self.version == "v2" else self.paths[-1], "pids.max")
        return path if os.path.exists(path) else None

    def _limit_pids(self, pids_max):
        # a fork bomb in one project must not take the node's process table (the hub's
        # own forks included)
        path = self._pids_file()
        if pids_max is None or path is None:
            return False
        _write(path, str(int(pids_max)))
        return True

    def pids_limit(self):
        """The group's process limit, or None if it has none."""
        value = self._read_pids("pids.max")
        return None if value in (None, "max") else int(value)

    def pids_current(self):
        """How many processes and threads the group holds now, or None if unknown."""
        value = self._read_pids("pids.current")
        return None if value is None else int(value)

    def _read_pids(self, name):
        limit = self._pids_file()
        if limit is None:
            return None
        try:
            with open(os.path.join(os.path.dirname(limit), name)) as f:
                return f.read().strip()
        except OSError:
            return None

    def join_self(self):
        """Move the calling process into the group (used in the child before exec)."""
        pid = str(os.getpid())
        for path in self.paths:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(pid)

    def pids(self):
        pids = set()
        for path in self.paths:
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    pids.update(int(line) for line in f if line.strip())
            except FileNotFoundError:
                pass
        return pids

    def kill_all(self):
        if self.version == "v2":
            kill = os.path.join(self.paths[0], "cgroup.kill")
            if os.path.exists(kill):
                _write(kill, "1", quiet=True)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self):
        for path in self.paths:
            try:
                os.rmdir(path)
            except OSError:
                pass

    def memory_limit_bytes(self):
        name = "memory.max" if self.version == "v2" else "memory.limit_in_bytes"
        try:
            with open(os.path.join(self.paths[0], name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None


def _write(path, value, quiet=False):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        if not quiet:
            raise CgroupError(f"cannot write {value!r} to {path}: {e}") from e
