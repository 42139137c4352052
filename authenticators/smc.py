"""SMCAuthenticator: sign up and sign in with a username and password."""

import re

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from tornado import web
from traitlets import Bool, Integer, default

from ..names import is_project_name
from .orm import Account
from .passwords import hash_password, needs_rehash, password_problem, verify_password

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SignupError(ValueError):
    """A sign-up that cannot go ahead; the message tells the person why."""


class SMCAuthenticator(Authenticator):
    """Accounts kept in the hub's database, with argon2-hashed passwords."""

    open_signup = Bool(True, help="Whether anyone can create an account on the sign-up page.").tag(
        config=True
    )

    min_password_length = Integer(8, help="Shortest password accepted at sign-up.").tag(config=True)

    @default("allow_all")
    def _allow_all_default(self):
        # having an account is what allows signing in
        return True

    def get_handlers(self, app):
        return [(r"/signup", SignUpHandler)]

    def validate_username(self, username):
        if is_project_name(username) or not USERNAME_RE.match(username):
            return False
        return super().validate_username(username)

    def username_problem(self, username):
        if is_project_name(username):
            return "That name is reserved for projects; choose another."
        if not USERNAME_RE.match(username):
            return (
                "Usernames are 1 to 63 characters: lowercase letters, digits, '.', '_' or "
                "'-', starting with a letter or digit."
            )
        if not super().validate_username(username):
            return "That username is not allowed here."
        return None

    def signup(self, db, username, password, email=None):
        """Create an account; raises SignupError with a reason a person can act on."""
        username = self.normalize_username(username or "")
        problem = self.username_problem(username) or password_problem(
            password or "", username, self.min_password_length
        )
        if problem:
            raise SignupError(problem)
        email = (email or "").strip().lower() or None
        if email and not EMAIL_RE.match(email):
            raise SignupError("That email address does not look right.")
        if db.query(Account).filter_by(username=username).first():
            raise SignupError("That username is taken.")
        if email and db.query(Account).filter_by(email=email).first():
            raise SignupError("An account with that email address already exists.")
        account = Account(username=username, email=email, password_hash=hash_password(password))
        db.add(account)
        db.commit()
        self.log.info("New account: %s", username)
        return account

    async def authenticate(self, handler, data):
        username = self.normalize_username(data.get("username") or "")
        password = data.get("password") or ""
        db = handler.db
        account = db.query(Account).filter_by(username=username).first()
        if not verify_password(account.password_hash if account else None, password):
            self.log.warning("Failed sign-in for %r", username)
            return None
        if needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
            db.commit()
        return {"name": account.username}


class SignUpHandler(BaseHandler):
    """The sign-up page: make an account, then arrive signed in on the projects page."""

    def _render(self, error=None, username="", email=""):
        return self.render_template(
            "signup.html",
            error=error,
            username=username,
            email=email,
            open_signup=self.authenticator.open_signup,
            min_password_length=self.authenticator.min_password_length,
        )

    async def get(self):
        if self.current_user:
            self.redirect(self.get_next_url(self.current_user))
            return
        self.finish(await self._render())

    async def post(self):
        authenticator = self.authenticator
        if not authenticator.open_signup:
            raise web.HTTPError(403, "Sign-up is closed on this hub; ask an admin for an account.")
        username = self.get_body_argument("username", "").strip()
        email = self.get_body_argument("email", "").strip()
        password = self.get_body_argument("password", "")
        confirm = self.get_body_argument("password_confirm", password)
        try:
            if password != confirm:
                raise SignupError("The two passwords differ.")
            account = authenticator.signup(self.db, username, password, email)
        except SignupError as e:
            self.set_status(400)
            self.finish(await self._render(str(e), username, email))
            return
        user = await self.auth_to_user({"name": account.username})
        account.user_id = user.id
        self.db.commit()
        self.set_login_cookie(user)
        self.redirect(self.get_next_url(user))
