"""Password hashing (argon2id, via argon2-cffi) and strength rules."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# a hash of a random password, checked when an account does not exist, so that
# "no such user" takes as long as "wrong password"
_DUMMY_HASH = _hasher.hash("smchub-timing-equaliser")


def hash_password(password):
    return _hasher.hash(password)


def verify_password(password_hash, password):
    """Whether `password` matches; also True-ish info on whether to rehash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash):
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password, username="", min_length=8):
    """Why `password` is too weak, or None."""
    if len(password) < min_length:
        return f"Passwords must have at least {min_length} characters."
    if len(password) > 1024:
        return "Passwords must have at most 1024 characters."
    if username and username.lower() in password.lower():
        return "Passwords must not contain the username."
    if len(set(password)) < 4:
        return "Passwords must use at least 4 different characters."
    return None
