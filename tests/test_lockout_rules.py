"""Lockout rules (authenticators/lockout.py) on a database of their own, without a hub.

Times are passed in, so each rule is checked at the exact second it changes.
"""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from smchub.authenticators import lockout
from smchub.authenticators.orm import LoginFailures

T0 = datetime(2026, 12, 4, 9, 0, 0)


def later(seconds):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def db():
    engine = create_engine("sqlite://")
    LoginFailures.__table__.create(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def account(key="ada", attempts=3, seconds=60):
    return lockout.Limit("account", key, attempts, seconds)


def address(key="203.0.113.9", attempts=5, seconds=300):
    return lockout.Limit("address", key, attempts, seconds)


def fail(db, limits, times, at=T0):
    for _ in range(times):
        lockout.count_attempt(db, limits, at=at)


def test_the_last_allowed_failure_locks_for_the_whole_period(db):
    limits = [account(attempts=3, seconds=60)]
    fail(db, limits, 2)
    assert lockout.seconds_locked(db, limits, at=T0) == 0
    fail(db, limits, 1, at=later(10))
    assert lockout.seconds_locked(db, limits, at=later(10)) == 60
    assert lockout.seconds_locked(db, limits, at=later(69.5)) == 1  # rounded up
    assert lockout.seconds_locked(db, limits, at=later(70)) == 0


def test_failures_outside_the_window_are_forgotten(db):
    limits = [account(attempts=3, seconds=60)]
    fail(db, limits, 2)
    fail(db, limits, 1, at=later(60))  # the first two are a window ago
    assert lockout.seconds_locked(db, limits, at=later(60)) == 0
    fail(db, limits, 1, at=later(61))
    assert lockout.seconds_locked(db, limits, at=later(61)) == 0
    fail(db, limits, 1, at=later(62))
    assert lockout.seconds_locked(db, limits, at=later(62)) == 60


def test_after_a_lock_the_count_starts_again(db):
    limits = [account(attempts=2, seconds=30)]
    fail(db, limits, 2)
    assert lockout.seconds_locked(db, limits, at=T0) == 30
    fail(db, limits, 1, at=later(30))
    assert lockout.seconds_locked(db, limits, at=later(30)) == 0
    assert db.get(LoginFailures, ("account", "ada")).count == 1


def test_the_longest_lock_of_an_attempts_limits_is_the_wait(db):
    ada = [account(attempts=2, seconds=60), address(attempts=3, seconds=300)]
    fail(db, ada, 2)
    assert lockout.seconds_locked(db, ada, at=later(1)) == 59
    # another name from the same address: its account is free, the address is not yet
    bob = [account("bob", attempts=2, seconds=60), address(attempts=3, seconds=300)]
    assert lockout.seconds_locked(db, bob, at=later(1)) == 0
    fail(db, bob, 1, at=later(1))
    assert lockout.seconds_locked(db, bob, at=later(1)) == 300
    assert lockout.seconds_locked(db, ada, at=later(1)) == 300


@pytest.mark.parametrize("limit", [account(attempts=0), account(key="")])
def test_a_limit_without_attempts_or_key_never_locks_nor_counts(db, limit):
    assert not limit.active
    fail(db, [limit], 10)
    assert lockout.seconds_locked(db, [limit], at=T0) == 0
    assert db.query(LoginFailures).count() == 0


def test_a_right_password_takes_its_attempt_back(db):
    limit = address(attempts=2)
    fail(db, [limit], 2)
    assert lockout.seconds_locked(db, [limit], at=T0) == 300
    lockout.take_back(db, limit)
    assert lockout.seconds_locked(db, [limit], at=T0) == 0
    assert db.get(LoginFailures, ("address", limit.key)).count == 1
    lockout.take_back(db, limit)
    lockout.take_back(db, limit)  # never below zero
    assert db.get(LoginFailures, ("address", limit.key)).count == 0


def test_clear_forgets_one_key_only(db):
    fail(db, [account("ada", attempts=1), account("bob", attempts=1)], 1)
    lockout.clear(db, "account", "ada")
    lockout.clear(db, "account", "nobody")  # nothing to forget is fine
    assert lockout.seconds_locked(db, [account("ada", attempts=1)], at=T0) == 0
    assert lockout.seconds_locked(db, [account("bob", attempts=1)], at=T0) == 60


def test_locked_until_lists_only_keys_locked_now(db):
    fail(db, [account("ada", attempts=1, seconds=60)], 1)
    fail(db, [account("bob", attempts=1, seconds=600)], 1)
    fail(db, [account("eve", attempts=5)], 1)
    keys = ["ada", "bob", "eve", "nobody"]
    assert lockout.locked_until(db, "account", keys, at=T0) == {
        "ada": later(60),
        "bob": later(600),
    }
    assert lockout.locked_until(db, "account", keys, at=later(60)) == {"bob": later(600)}
    assert lockout.locked_until(db, "account", [], at=T0) == {}
    assert lockout.locked_until(db, "address", keys, at=T0) == {}


def test_names_typed_long_ago_do_not_pile_up(db):
    for name in ("guess1", "guess2", "guess3"):
        fail(db, [account(name, attempts=5, seconds=60)], 1)
    fail(db, [account("locked", attempts=1, seconds=600)], 1)
    fail(db, [account("new", attempts=5, seconds=60)], 1, at=later(61))
    keys = {key for (key,) in db.query(LoginFailures.key)}
    # the guesses' windows are over; the lock still holds
    assert keys == {"locked", "new"}


@pytest.mark.parametrize(
    "seconds, words",
    [
        (0, "1 second"),
        (1, "1 second"),
        (40, "40 seconds"),
        (89, "89 seconds"),
        (90, "2 minutes"),
        (300, "5 minutes"),
        (89 * 60, "89 minutes"),
        (24 * 3600, "24 hours"),
        (7 * 86400, "7 days"),
        (365 * 86400, "365 days"),
    ],
)
def test_wait_in_words(seconds, words):
    assert lockout.wait_in_words(seconds) == words


@pytest.mark.parametrize(
    "peer, forwarded_for, trusted, client",
    [
        ("::ffff:127.0.0.1", "203.0.113.9", [], "203.0.113.9"),  # IPv4-mapped loopback
        ("192.0.2.7", "203.0.113.9", ["not a network", "192.0.2.0/29"], "203.0.113.9"),
        ("192.0.2.7", "203.0.113.9", ["2001:db8::/32"], "192.0.2.7"),
        ("127.0.0.1", "", [], "127.0.0.1"),
        (None, "", [], ""),
    ],
)
def test_client_address_edge_cases(peer, forwarded_for, trusted, client):
    assert lockout.client_address(peer, forwarded_for, trusted) == client
