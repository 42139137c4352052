"""The project's limits, as the hub hands them to the server in its environment."""

import logging
from collections.abc import Mapping

MIB = 1024 * 1024

log = logging.getLogger(__name__)


def _number(environ: Mapping[str, str], name: str) -> float | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        log.warning("Ignoring %s=%r: not a number", name, text)
        return None
    if value <= 0:
        # a zero or negative limit cannot be meant literally: read it as "no limit"
        return None
    return value


def project_limits(environ: Mapping[str, str]) -> dict:
    """Limits from SMCHUB_* variables: sizes in MB and CPUs, None where unset.

    ``enforced`` says whether the hub applied them (cgroups, container limits) or only
    records them; ``note`` is the hub's explanation for a person reading the info page.
    """
    memory_mb = _number(environ, "SMCHUB_MEMORY_LIMIT_MB")
    disk_mb = _number(environ, "SMCHUB_DISK_QUOTA_MB")
    return {
        "project_id": environ.get("SMCHUB_PROJECT_ID") or None,
        "memory_mb": None if memory_mb is None else int(memory_mb),
        "cpu": _number(environ, "SMCHUB_CPU_LIMIT"),
        "disk_mb": None if disk_mb is None else int(disk_mb),
        "enforced": environ.get("SMCHUB_LIMITS_ENFORCED", "").strip() == "1",
        "note": environ.get("SMCHUB_LIMITS_NOTE", ""),
    }
