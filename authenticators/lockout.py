"""Lockout after repeated failed sign-ins, per account and per client address.

Counters are rows of smc_login_failures, so a restarted hub keeps them. An attempt is
counted *before* its password is checked (the check takes a while, in a thread), so
guesses sent all at once cannot slip past the limit; a right password takes its attempt
back afterwards.
"""

import ipaddress
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_

from ..orm import now
from .orm import LoginFailures


@dataclass(frozen=True)
class Limit:
    """`attempts` failures within `seconds` lock `key` for `seconds` (0 attempts: never)."""

    kind: str
    key: str
    attempts: int
    seconds: int

    @property
    def active(self):
        return self.attempts > 0 and bool(self.key)


def seconds_locked(db, limits, at=None):
    """Whole seconds until `limits` allow another attempt (0: allowed now)."""
    at = at or now()
    wait = 0.0
    for limit in limits:
        if not limit.active:
            continue
        row = db.get(LoginFailures, (limit.kind, limit.key))
        if row is not None and row.locked_until is not None and row.locked_until > at:
            wait = max(wait, (row.locked_until - at).total_seconds())
    return math.ceil(wait)


def count_attempt(db, limits, at=None):
    """Count one attempt against each limit, locking those it brings to their maximum."""
    at = at or now()
    for limit in limits:
        if not limit.active:
            continue
        row = db.get(LoginFailures, (limit.kind, limit.key))
        if row is None:
            row = LoginFailures(kind=limit.kind, key=limit.key, count=0, since=at)
            db.add(row)
        elif _window_over(row, limit, at):
            row.count, row.since, row.locked_until = 0, at, None
        row.count += 1
        if row.count >= limit.attempts:
            row.locked_until = at + timedelta(seconds=limit.seconds)
        _forget_old(db, limit, at)
    db.commit()


def take_back(db, limit):
    """Undo the attempt counted for a sign-in whose password was right."""
    row = db.get(LoginFailures, (limit.kind, limit.key))
    if row is not None and row.count > 0:
        row.count -= 1
        if row.count < limit.attempts:
            row.locked_until = None
        db.commit()


def clear(db, kind, key):
    """Forget the failures counted against `key` (a right password, a reset, an admin)."""
    row = db.get(LoginFailures, (kind, key))
    if row is not None:
        db.delete(row)
        db.commit()


def locked_until(db, kind, keys, at=None):
    """{key: end of its lock} for the keys locked now."""
    at = at or now()
    if not keys:
        return {}
    rows = db.query(LoginFailures).filter(
        LoginFailures.kind == kind,
        LoginFailures.key.in_(list(keys)),
        LoginFailures.locked_until > at,
    )
    return {row.key: row.locked_until for row in rows}


def client_address(peer, forwarded_for, trusted_downstream, loopback_is_ours=True):
    """The client's address, read from X-Forwarded-For as far as trusted proxies wrote it.

    `peer` is the address the request came from (None for a Unix socket). A peer on this
    machine is the hub's own proxy, configurable-http-proxy, which appends the address it
    was connected from to X-Forwarded-For; a peer elsewhere is trusted only when listed in
    `trusted_downstream` (c.JupyterHub.trusted_downstream_ips: addresses or networks).
    `loopback_is_ours` False says a loopback peer is another account on this machine (a
    local project), not the hub's proxy: what it wrote is not believed.
    Walking the header from the right, each trusted hop's entry names the hop before it,
    and the first hop not trusted is the client: entries a client wrote itself are never
    believed, and clients behind the admin's own reverse proxy are told apart.
    """
    networks = _networks(trusted_downstream)
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    address = _ip(peer) if peer else None
    trusted = (
        address is None or (address.is_loopback and loopback_is_ours) or _listed(address, networks)
    )
    while trusted and hops:
        hop = _ip(hops.pop())
        if hop is None:
            break  # no proxy writes that; what is left is a client's own
        address = hop
        trusted = _listed(address, networks)
    return str(address) if address is not None else ""


def _ip(text):
    """An address as ipaddress sees it (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _networks(entries):
    networks = []
    for entry in entries or ():
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue  # tornado skips what it cannot match too
    return networks


def _listed(address, networks):
    return any(address.version == net.version and address in net for net in networks)


def wait_in_words(seconds):
    """A duration as a person would say it: "40 seconds", "5 minutes", "24 hours"."""
    for unit, size in (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400)):
        count = math.ceil(seconds / size)
        if count < 90 or unit == "day":
            count = max(1, count)
            return f"{count} {unit}{'s' if count != 1 else ''}"


def _window_over(row, limit, at):
    if row.locked_until is not None:
        return row.locked_until <= at
    return row.since + timedelta(seconds=limit.seconds) <= at


def _forget_old(db, limit, at):
    # rows whose window and lock are both over count for nothing; names typed by
    # someone guessing would otherwise pile up
    db.query(LoginFailures).filter(
        LoginFailures.kind == limit.kind,
        LoginFailures.since <= at - timedelta(seconds=limit.seconds),
        or_(LoginFailures.locked_until.is_(None), LoginFailures.locked_until <= at),
    ).delete()


def is_loopback(peer):
    address = _ip(peer)
    return address is not None and address.is_loopback
