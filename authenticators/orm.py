"""Accounts for SMCAuthenticator, kept in smchub's tables and migrations."""

import secrets
from datetime import datetime, timedelta

from jupyterhub import orm as hub_orm
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Unicode
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..orm import USERS_ID, Base, LimitedUseToken, hash_token, now

ACCOUNT_STATES = ("active", "pending", "rejected")


class SignupToken(LimitedUseToken, Base):
    """A registration token (a class's sign-up code), with expiry and a use limit."""

    __tablename__ = "smc_signup_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note: Mapped[str] = mapped_column(Unicode(255), default="")

    @classmethod
    def new(cls, created_by, note="", expires_in=None, max_uses=None):
        return cls.make(created_by, expires_in, max_uses, nbytes=24, note=note)

    def problem(self):
        """Why this code cannot be used now, or None."""
        if self.expired:
            return "That sign-up code has expired; ask for a new one."
        if self.used_up:
            return "That sign-up code has been used up; ask for a new one."
        return None


class Account(Base):
    """A username/password account; the person is the JupyterHub user of that name.

    ``state`` is "active", "pending" (waiting for an admin, in approval mode) or
    "rejected". The JupyterHub user of that name is made at the first sign-in.
    """

    __tablename__ = "smc_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Unicode(255), unique=True)
    email: Mapped[str | None] = mapped_column(Unicode(255), unique=True, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True
    )
    state: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    # the sign-up code it was made with, if any (a class's roster)
    signup_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("smc_signup_tokens.id", ondelete="SET NULL"), nullable=True
    )

    # whether its person opened the link sent to `email` (verification.py); an address
    # nobody confirmed claims nothing, such as a course place reserved for it
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    signup_token: Mapped[SignupToken | None] = relationship(SignupToken, lazy="selectin")

    @classmethod
    def find(cls, db, login):
        """The account whose username or email is `login` (already lowercased)."""
        if not login or "\0" in login:
            return None  # no name holds one, and PostgreSQL refuses it in a query
        column = cls.email if "@" in login else cls.username
        return db.query(cls).filter(column == login).one_or_none()

    def user_info(self):
        """What the hub knows of this account's person, as JupyterHub's user_info: the
        hub reads the email there, and whether its person confirmed it (course places
        reserved for an address go only to a confirmed one)."""
        return {"email": self.email, "email_verified": bool(self.email_verified)}

    def __repr__(self):
        return f"<Account {self.username} {self.state}>"


class OneTimeLink:
    """A link whose secret is sent once (by email, or to an admin) and stored hashed,
    valid until `expires_at`: a password reset or an address confirmation."""

    @classmethod
    def make(cls, expires_in, **fields):
        """(row, token): a new link's row and the secret its URL carries."""
        token = secrets.token_urlsafe(32)
        row = cls(
            hashed=hash_token(token), expires_at=now() + timedelta(seconds=expires_in), **fields
        )
        return row, token

    @classmethod
    def find_unexpired(cls, db, token):
        """The unexpired link for `token`, or None."""
        if not token or len(token) > 200:
            return None
        row = db.query(cls).filter_by(hashed=hash_token(token)).one_or_none()
        if row is None or row.expires_at <= now():
            return None
        return row


class PasswordReset(OneTimeLink, Base):
    """A one-time link, made by an admin, that sets a person's password.

    It names a username rather than an account: a person an admin added in JupyterHub
    (without a password) gets their account when they first use the link.
    """

    __tablename__ = "smc_password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hashed: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(Unicode(255), index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True
    )
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)

    created_by: Mapped[hub_orm.User | None] = relationship(hub_orm.User)

    @classmethod
    def new(cls, username, created_by, expires_in):
        return cls.make(expires_in, username=username, created_by=created_by)

    @classmethod
    def find_usable(cls, db, token):
        """The unexpired reset for `token`, or None."""
        return cls.find_unexpired(db, token)

    @classmethod
    def made_since(cls, db, username, seconds):
        """Whether a link for `username` was made in the last `seconds`."""
        since = now() - timedelta(seconds=seconds)
        return db.query(cls).filter(cls.username == username, cls.created > since).count() > 0

    @classmethod
    def forget(cls, db, username):
        """Make every link for `username` stop working (the caller commits)."""
        db.query(cls).filter_by(username=username).delete()


class EmailVerification(OneTimeLink, Base):
    """A one-time link, sent to an account's email, that confirms the address is theirs.

    It names the address it was sent to: a link for an address the account no longer
    has confirms nothing.
    """

    __tablename__ = "smc_email_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hashed: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("smc_accounts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(Unicode(255))
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)

    account: Mapped[Account] = relationship(Account)

    @classmethod
    def new(cls, account, expires_in):
        return cls.make(expires_in, account=account, email=account.email)

    @classmethod
    def find_usable(cls, db, token):
        """The unexpired link for `token` whose address is still its account's, or None."""
        row = cls.find_unexpired(db, token)
        if row is None or row.account.email != row.email:
            return None
        return row


class LoginFailures(Base):
    """Failed sign-ins counted against one account or one client address.

    ``kind`` is "account" (key: the username, or the name typed when no account has
    it, so that lockout does not reveal which accounts exist) or "address" (key: the
    client's IP address). Kept in the database so a restart does not reset them.
    """

    __tablename__ = "smc_login_failures"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(Unicode(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    # start of the window in which `count` failures happened
    since: Mapped[datetime] = mapped_column(DateTime, default=now, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
