"""SMCAuthenticator: accounts with a username, an email and a password."""

import asyncio
import re
import socket

from jupyterhub import orm as hub_orm
from jupyterhub.auth import Authenticator
from jupyterhub.utils import maybe_future, url_path_join
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Bool, CaselessStrEnum, Integer, default, observe

from ..names import is_project_name
from . import api, lockout, pages, peers
from .errors import SignupError
from .orm import Account, EmailVerification, PasswordReset, SignupToken
from .passwords import hash_password, needs_rehash, password_problem, verify_password
from .project_names import ProjectNamesReserved

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
EMAIL_RE = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")
MAX_EMAIL_LENGTH = 254

SIGNUP_MODES = ("open", "token", "approval", "closed")


class SMCAuthenticator(ProjectNamesReserved, Authenticator):
    """Accounts kept in the hub's database, with argon2-hashed passwords.

    People sign up on /hub/signup (openly, with a sign-up code, or waiting for an
    admin's approval: see signup_mode) and sign in with their username or email.
    Repeated failures lock an account, and a client address, for a while. Admins
    manage sign-up codes, pending accounts and password-reset links on /hub/accounts
    and through /hub/api/signup-tokens and /hub/api/accounts.
    """

    # (path under /hub/, label, admins only) for the hub's navigation bar
    account_pages = [("account", "Account", False), ("accounts", "Accounts", True)]

    signup_mode = CaselessStrEnum(
        SIGNUP_MODES,
        help="""Who may make an account on the sign-up page.

        "open": anyone. "token": only people with a sign-up code that an admin made
        (e.g. one per class). "approval": anyone, but new accounts wait for an admin to
        approve them (a valid sign-up code skips the wait). "closed": nobody; admins
        add people in JupyterHub's admin page and send each a password-reset link.
        """,
    ).tag(config=True)

    @default("signup_mode")
    def _signup_mode_default(self):
        return "open" if self.open_signup else "closed"

    open_signup = Bool(
        True,
        help="""Deprecated: use signup_mode ("open" or "closed").

        Only read when signup_mode is not set.
        """,
    ).tag(config=True)

    @observe("open_signup")
    def _open_signup_deprecated(self, change):
        self.log.warning(
            "c.SMCAuthenticator.open_signup is deprecated: use c.SMCAuthenticator.signup_mode = %r",
            "open" if change.new else "closed",
        )

    require_email = Bool(
        True,
        help="""Whether the sign-up page requires an email address.

        People can sign in with their email address instead of their username.
        """,
    ).tag(config=True)

    min_password_length = Integer(
        8, min=1, help="Shortest password accepted at sign-up and when changing it."
    ).tag(config=True)

    lockout_attempts = Integer(
        5,
        min=0,
        help="""Failed sign-ins that lock an account (0: never).

        Failures count within lockout_seconds; a successful sign-in clears them. While
        locked, even the right password is refused. Names without an account lock
        too, so lockout does not reveal which accounts exist.
        """,
    ).tag(config=True)

    lockout_seconds = Integer(
        300,
        min=1,
        help="How long an account stays locked, and the window its failures count in.",
    ).tag(config=True)

    address_lockout_attempts = Integer(
        30,
        min=0,
        help="""Failed sign-ins from one client address, whatever the accounts, that
        lock that address (0: never).

        Failures count within address_lockout_seconds; successes do not clear them.
        Keep it well above lockout_attempts: a class behind one NAT shares an address.
        The address is the client's as configurable-http-proxy saw it. When a reverse
        proxy of yours sits in front of it (TLS, a load balancer), list that proxy's
        address in c.JupyterHub.trusted_downstream_ips (addresses or networks), or every
        client counts as that one address; list configurable-http-proxy's address there
        too if it runs on another machine than the hub. X-Forwarded-For is believed only
        as far as those proxies wrote it.
        """,
    ).tag(config=True)

    address_lockout_seconds = Integer(
        300,
        min=1,
        help="How long a client address stays locked, and the window its failures count in.",
    ).tag(config=True)

    reset_link_expires_in = Integer(
        24 * 3600,
        min=60,
        help="Seconds a password-reset link stays valid, unless the admin who makes it "
        "asks for another time.",
    ).tag(config=True)

    email_verification_expires_in = Integer(
        3 * 24 * 3600,
        min=60,
        help="Seconds the link that confirms a new account's email stays valid (sent when "
        "the hub sends email: c.SMCHub.smtp_host). A new one can be asked for from the "
        "account page.",
    ).tag(config=True)

    signup_token_expires_in = Integer(
        7 * 24 * 3600,
        min=60,
        help="Seconds a sign-up code stays valid, unless the admin who makes it asks for "
        "another time (or for none).",
    ).tag(config=True)

    @default("allow_all")
    def _allow_all_default(self):
        # having an account is what allows signing in
        return True

    def get_handlers(self, app):
        return [*pages.default_handlers, *api.default_handlers]

    # --- names ------------------------------------------------------------------------

    def validate_username(self, username):
        # ProjectNamesReserved, next in line, refuses the names kept for projects
        return bool(USERNAME_RE.match(username)) and super().validate_username(username)

    def username_problem(self, username):
        if is_project_name(username):
            return "That name is reserved for projects; choose another."
        if not USERNAME_RE.match(username):
            return (
                "Usernames are 1 to 63 characters: lowercase letters, digits, '.', '_' or "
                "'-', starting with a letter or digit."
            )
        if not super().validate_username(username) or username in self.blocked_users:
            return "That username is not allowed here."
        return None

    # --- sign-up ----------------------------------------------------------------------

    def check_signup(self, db, username, password, email=None):
        """The cleaned (username, email), or SignupError with a reason to act on."""
        username = self.normalize_username((username or "").strip())
        problem = self.username_problem(username) or password_problem(
            password or "", username, self.min_password_length
        )
        if problem:
            raise SignupError(problem)
        email = (email or "").strip().lower() or None
        if email and (len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(email)):
            raise SignupError("That email address does not look right.")
        return username, email

    def signup(self, db, username, password, email=None, password_hash=None):
        """Create an active account directly, for admins' scripts and tests.

        Neither signup_mode nor require_email applies. Raises SignupError. A script
        making many accounts with one first password may pass its hash, made once
        (argon2 costs a quarter of a second of CPU per hash, by design).
        """
        username, email = self.check_signup(db, username, password, email)
        if password_hash is None:
            password_hash = hash_password(password)
        return self._add_account(db, username, email, password_hash)

    async def register(self, db, username, password, email=None, token=None):
        """Sign-up from the page: follows signup_mode and require_email.

        Returns the new account, active or (in approval mode) pending.
        Raises SignupError, having changed nothing.
        """
        mode = self.signup_mode
        if mode == "closed":
            raise SignupError(
                "Sign-up is closed on this hub; ask an admin for an account.", status=403
            )
        username, email = self.check_signup(db, username, password, email)
        if self.require_email and not email:
            raise SignupError("An email address is required.")
        if not self.allow_all and not await maybe_future(self.check_allowed(username, None)):
            raise SignupError("That username is not allowed here.")
        if hub_orm.User.find(db, username) is not None:
            # someone JupyterHub knows (an admin added them, or another sign-in made them)
            raise SignupError("That username is taken.")
        if self.new_person_policy is not None:
            known = [name for (name,) in db.query(Account.username).limit(2)]
            refusal = self.new_person_policy(username, known=known)
            if refusal:
                raise SignupError(refusal, status=403)
        token = (token or "").strip()
        if mode == "token" and not token:
            raise SignupError(
                "A sign-up code is required to make an account here; ask your teacher or "
                "an admin for one."
            )
        if token:
            self._usable_signup_token(db, token)
        password_hash = await asyncio.to_thread(hash_password, password)
        # checked again after the wait: the code may have been used up meanwhile
        signup_token = self._usable_signup_token(db, token) if token else None
        state = "pending" if mode == "approval" and signup_token is None else "active"
        return self._add_account(db, username, email, password_hash, state, signup_token)

    def _usable_signup_token(self, db, token):
        row = SignupToken.find(db, token)
        if row is None:
            raise SignupError("That sign-up code is not valid; check it, or ask for a new one.")
        problem = row.problem()
        if problem:
            raise SignupError(problem)
        return row

    def _add_account(self, db, username, email, password_hash, state="active", token=None):
        if db.query(Account).filter_by(username=username).first():
            raise SignupError("That username is taken.")
        if email and db.query(Account).filter_by(email=email).first():
            raise SignupError("An account with that email address already exists.")
        account = Account(
            username=username,
            email=email,
            password_hash=password_hash,
            state=state,
            signup_token=token,
        )
        if token is not None:
            token.uses += 1
        # links made before the account existed (an admin's first password) are spent
        PasswordReset.forget(db, username)
        db.add(account)
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
            raise SignupError("That username or email address was just taken; choose another.")
        self.log.info("New %s account: %s", state, username)
        return account

    # --- sign-in ----------------------------------------------------------------------

    def client_address(self, handler):
        """The address failures are counted against: the client's, as trusted proxies saw it.

        Read from X-Forwarded-For only as far as the hub's own proxy and the proxies in
        c.JupyterHub.trusted_downstream_ips wrote it (see lockout.client_address); tornado's
        remote_ip would believe whatever a client puts in X-Forwarded-For or X-Real-Ip.
        """
        request = handler.request
        context = request.connection.context
        is_ip = getattr(context, "address_family", None) in (socket.AF_INET, socket.AF_INET6)
        peer = context.address[0] if is_ip else None
        ours = True
        if peer is not None and lockout.is_loopback(peer):
            # a local project can reach the hub's port too: believe only the hub's proxy
            server_port = request.connection.stream.socket.getsockname()[1]
            ours = peers.is_own_account(context.address[1], server_port)
        return lockout.client_address(
            peer,
            request.headers.get("X-Forwarded-For", ""),
            getattr(self.parent, "trusted_downstream_ips", ()),
            loopback_is_ours=ours,
        )

    def _limits(self, key, address):
        return (
            lockout.Limit("account", key, self.lockout_attempts, self.lockout_seconds),
            lockout.Limit(
                "address", address, self.address_lockout_attempts, self.address_lockout_seconds
            ),
        )

    def _refuse_if_locked(self, db, limits):
        wait = lockout.seconds_locked(db, limits)
        if wait:
            error = web.HTTPError(
                429,
                f"Too many failed sign-ins; try again in {lockout.wait_in_words(wait)}.",
            )
            error.headers = {"Retry-After": str(wait)}
            raise error

    async def check_password(self, db, login, password, address):
        """The account `login` (username or email) names, if `password` is its password.

        Counts the attempt against the account and the client address; raises a 429
        HTTPError while either is locked, even for the right password.
        """
        # no name holds a NUL, and PostgreSQL would refuse to store one in the counters
        login = (login or "").strip().lower().replace("\0", "")
        account = Account.find(db, login)
        key = account.username if account is not None else self.normalize_username(login)
        limits = self._limits(key[:255], address[:255])
        self._refuse_if_locked(db, limits)
        lockout.count_attempt(db, limits)
        account_id = account.id if account is not None else None
        password_hash = account.password_hash if account is not None else None
        # argon2 takes a good fraction of a second: off the event loop. An unknown
        # name is checked against a dummy hash, so it takes as long as a wrong password.
        ok = await asyncio.to_thread(verify_password, password_hash, password or "")
        account = db.get(Account, account_id) if ok else None
        if account is None:
            self._refuse_if_locked(db, limits)
            return None
        account_limit, address_limit = limits
        lockout.clear(db, account_limit.kind, account_limit.key)
        lockout.take_back(db, address_limit)
        if needs_rehash(account.password_hash):
            account.password_hash = await asyncio.to_thread(hash_password, password)
            db.commit()
        return account

    async def authenticate(self, handler, data):
        db = handler.db
        account = await self.check_password(
            db, data.get("username"), data.get("password"), self.client_address(handler)
        )
        if account is None:
            return None
        if account.state == "pending":
            raise web.HTTPError(
                403,
                "Your account is waiting for an admin's approval; you can sign in once "
                "it is approved.",
            )
        if account.state != "active":
            raise web.HTTPError(403, "An admin declined this account's sign-up.")
        if account.user_id is None:
            user = hub_orm.User.find(db, account.username)
            if user is not None:
                account.user_id = user.id
                db.commit()
        return {"name": account.username, "user_info": account.user_info()}

    # --- passwords --------------------------------------------------------------------

    async def set_password(self, db, username, password):
        """Set `username`'s password (already checked) and return their account.

        A person an admin added in JupyterHub without a password gets an account here.
        Their reset links stop working and their lockout is cleared.
        """
        password_hash = await asyncio.to_thread(hash_password, password)
        account = Account.find(db, username)
        if account is None:
            account = Account(username=username, password_hash=password_hash, state="active")
            db.add(account)
        else:
            account.password_hash = password_hash
        PasswordReset.forget(db, username)
        db.commit()
        lockout.clear(db, "account", username)
        return account

    def new_reset_link(self, db, username, created_by, expires_in=None):
        """A one-time link that sets `username`'s password; earlier links stop working.

        Returns (PasswordReset row, path of the link).
        """
        PasswordReset.forget(db, username)
        reset, token = PasswordReset.new(
            username, created_by, expires_in or self.reset_link_expires_in
        )
        db.add(reset)
        db.commit()
        return reset, url_path_join(self._hub_prefix(), "reset", token)

    # --- email verification -----------------------------------------------------------

    def new_verification_link(self, db, account):
        """A one-time link that confirms `account`'s email; earlier ones stop working.

        Returns the path of the link (under the hub's prefix)."""
        db.query(EmailVerification).filter_by(account_id=account.id).delete()
        row, token = EmailVerification.new(account, self.email_verification_expires_in)
        db.add(row)
        db.commit()
        return url_path_join(self._hub_prefix(), "verify-email", token)

    def verify_email(self, db, token):
        """Confirm the address a link was sent to; its account, or None if the link is
        unknown, used, expired or for an address the account no longer has. The
        account's JupyterHub user (if it signed in before) learns it at once."""
        row = EmailVerification.find_usable(db, token)
        if row is None:
            return None
        account = row.account
        account.email_verified = True
        db.query(EmailVerification).filter_by(account_id=account.id).delete()
        user = hub_orm.User.find(db, account.username)
        if user is not None:
            user.user_info = account.user_info()
        db.commit()
        return account

    def _hub_prefix(self):
        return url_path_join(getattr(self.parent, "base_url", "/"), "hub/")

    # --- JupyterHub's user hooks ------------------------------------------------------

    def add_user(self, user):
        """At start, each admin from config who has no account gets a set-password link.

        The link goes to the log, for whoever started the hub: it works whatever the
        signup_mode, and nobody can take an admin's name by signing up first.
        """
        super().add_user(user)
        if user.name not in self.admin_users:
            return
        db = getattr(user, "db", None) or object_session(user)
        if db is None or Account.find(db, user.name) is not None:
            return
        _, path = self.new_reset_link(db, user.name, None)
        public = getattr(self.parent, "public_url", "") or getattr(self.parent, "bind_url", "")
        base_url = getattr(self.parent, "base_url", "/")
        url = url_path_join(public, path[len(base_url) :]) if public else path
        self.log.warning(
            "Admin %s has no password yet: open %s to set one (valid for %s).",
            user.name,
            url,
            lockout.wait_in_words(self.reset_link_expires_in),
        )

    def delete_user(self, user):
        """A person deleted from JupyterHub loses their account (the name is free again)."""
        super().delete_user(user)
        db = getattr(user, "db", None) or object_session(user)
        if db is None:
            return
        account = Account.find(db, user.name)
        if account is not None:
            db.delete(account)
            self.log.info("Deleted the account of %s", user.name)
        PasswordReset.forget(db, user.name)
        db.commit()
