"""SMCAuthenticator's pages: sign up, change password, reset password, manage accounts."""

from jupyterhub import orm as hub_orm
from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import has_scope
from jupyterhub.utils import new_token, url_path_join
from tornado import web
from tornado.httputil import url_concat

from ..scopes import ACCOUNTS_ADMIN_SCOPE
from .errors import SignupError
from .lockout import wait_in_words
from .orm import Account, EmailVerification, PasswordReset
from .passwords import password_problem


class AccountPageHandler(BaseHandler):
    """Shared parts of the account pages."""

    async def render_page(self, template, status=200, **ns):
        self.set_status(status)
        html = await self.render_template(
            template, min_password_length=self.authenticator.min_password_length, **ns
        )
        self.finish(html)

    @property
    def mailer(self):
        """The hub's email (smchub.mail.Mailer); its `enabled` says whether it sends any."""
        return self.settings["smchub"].mailer

    def send_verification(self, account):
        """Email `account` a link that confirms its address, if the hub sends email."""
        if not (self.mailer.enabled and account.email):
            return
        path = self.authenticator.new_verification_link(self.db, account)
        expires = wait_in_words(self.authenticator.email_verification_expires_in)
        self.mailer.send_soon(
            account.email,
            "Confirm your email address",
            f"Hello {account.username},\n\n"
            "Open this link to confirm that this address is yours:\n\n"
            f"{self.mailer.link(path)}\n\n"
            f"It works once, for {expires}. Until you open it, this address claims nothing "
            "on the hub, such as a place an instructor reserved for it in a course.\n\n"
            "If you did not sign up, ignore this message.\n",
        )

    def new_password_problem(self, username, password, confirm):
        if password != confirm:
            return "The two passwords differ."
        return password_problem(password, username, self.authenticator.min_password_length)

    def sign_out_elsewhere(self, orm_user):
        """End every browser session of `orm_user` (a new cookie id invalidates the old)."""
        orm_user.cookie_id = new_token()
        self.db.commit()

    def shut_out(self, orm_user):
        """End every session of `orm_user` and revoke every API token they hold.

        That includes the tokens that servers they opened got through OAuth: after a
        reset, whoever knew the old password must have nothing left that works.
        """
        tokens = list(orm_user.api_tokens)
        for token in tokens:
            self.db.delete(token)
        self.sign_out_elsewhere(orm_user)
        return len(tokens)


class SignUpHandler(AccountPageHandler):
    """The sign-up page: make an account, then arrive signed in on the projects page.

    In approval mode the new account waits for an admin, and the page says so.
    """

    async def _render(self, status=200, **ns):
        authenticator = self.authenticator
        fields = {"error": None, "username": "", "email": "", "token": "", "pending": False,
                  "next": self.get_argument("next", "")}  # fmt: skip
        fields.update(ns)
        await self.render_page(
            "signup.html",
            status,
            signup_mode=authenticator.signup_mode,
            require_email=authenticator.require_email,
            **fields,
        )

    async def get(self):
        if self.current_user:
            self.redirect(self.get_next_url(self.current_user))
            return
        await self._render(token=self.get_argument("token", "").strip()[:200])

    async def post(self):
        username = self.get_body_argument("username", "").strip()
        email = self.get_body_argument("email", "").strip()
        token = self.get_body_argument("token", "").strip()
        password = self.get_body_argument("password", "")
        confirm = self.get_body_argument("password_confirm", password)
        try:
            if password != confirm:
                raise SignupError("The two passwords differ.")
            account = await self.authenticator.register(self.db, username, password, email, token)
        except SignupError as e:
            await self._render(e.status, error=str(e), username=username, email=email, token=token)
            return
        self.send_verification(account)
        if account.state == "pending":
            await self._render(pending=True, username=account.username)
            return
        user = await self.auth_to_user({"name": account.username, "user_info": account.user_info()})
        account.user_id = user.id
        self.db.commit()
        self.set_login_cookie(user)
        self.redirect(self.get_next_url(user))


class ChangePasswordHandler(AccountPageHandler):
    """/hub/account: a signed-in person changes their password."""

    async def _render(self, status=200, **ns):
        user = self.current_user
        account = Account.find(self.db, user.name)
        await self.render_page(
            "account.html", status, user=user, account=account,
            mail_enabled=self.mailer.enabled, sent=bool(self.get_argument("sent", "")), **ns,
        )  # fmt: skip

    @web.authenticated
    async def get(self):
        await self._render()

    @web.authenticated
    async def post(self):
        user = self.current_user
        authenticator = self.authenticator
        current = self.get_body_argument("current_password", "")
        password = self.get_body_argument("password", "")
        confirm = self.get_body_argument("password_confirm", password)
        if Account.find(self.db, user.name) is None:
            await self._render(
                400, error="You have no password here yet; ask an admin for a set-password link."
            )
            return
        problem = self.new_password_problem(user.name, password, confirm)
        if problem:
            await self._render(400, error=problem)
            return
        address = authenticator.client_address(self)
        try:
            account = await authenticator.check_password(self.db, user.name, current, address)
        except web.HTTPError as e:
            await self._render(e.status_code, error=e.log_message)
            return
        if account is None:
            await self._render(400, error="Your current password is wrong.")
            return
        await authenticator.set_password(self.db, user.name, password)
        self.sign_out_elsewhere(user.orm_user)
        self.set_hub_cookie(user)
        self.set_login_cookie(user)
        self.log.info("%s changed their password", user.name)
        await self._render(
            changed=True,
            message="Your password is changed. Browsers signed in as you elsewhere are now "
            "signed out.",
        )


class ResetPasswordHandler(AccountPageHandler):
    """/hub/reset/<token>: a one-time link an admin made sets a new password."""

    def _find(self, token):
        """(reset, username), or (None, None) when the link cannot be used."""
        reset = PasswordReset.find_usable(self.db, token)
        if reset is None:
            return None, None
        username = reset.username
        if Account.find(self.db, username) is None and hub_orm.User.find(self.db, username) is None:
            return None, None
        return reset, username

    async def _render(self, status=200, **ns):
        await self.render_page("reset.html", status, **ns)

    async def get(self, token):
        reset, username = self._find(token)
        if reset is None:
            await self._render(404, usable=False)
            return
        await self._render(usable=True, username=username, token=token)

    async def post(self, token):
        reset, username = self._find(token)
        if reset is None:
            await self._render(404, usable=False)
            return
        password = self.get_body_argument("password", "")
        confirm = self.get_body_argument("password_confirm", password)
        problem = self.new_password_problem(username, password, confirm)
        if problem:
            await self._render(400, usable=True, username=username, token=token, error=problem)
            return
        await self.authenticator.set_password(self.db, username, password)
        orm_user = hub_orm.User.find(self.db, username)
        revoked = self.shut_out(orm_user) if orm_user is not None else 0
        self.log.info(
            "%s set a new password with a reset link; signed out, %d API token(s) revoked",
            username,
            revoked,
        )
        login_url = url_concat(url_path_join(self.hub.base_url, "login"), {"username": username})
        await self._render(usable=False, done=True, username=username, login_url=login_url)


class VerifyEmailHandler(AccountPageHandler):
    """/hub/verify-email/<token>: the link sent to a new account's address confirms it.

    Opening it shows a button; only the POST confirms, so a mail scanner that fetches
    every link in a message confirms nothing.
    """

    async def _render(self, status=200, **ns):
        await self.render_page("verify.html", status, **ns)

    async def get(self, token):
        row = EmailVerification.find_usable(self.db, token)
        if row is None:
            await self._render(404, usable=False)
            return
        await self._render(usable=True, email=row.email, token=token)

    async def post(self, token):
        account = self.authenticator.verify_email(self.db, token)
        if account is None:
            await self._render(404, usable=False)
            return
        self.log.info("%s confirmed their email address", account.username)
        await self._render(done=True, email=account.email, username=account.username)


class ResendVerificationHandler(AccountPageHandler):
    """POST /hub/account/verify-email: a new confirmation link for the signed-in person."""

    @web.authenticated
    async def post(self):
        account = Account.find(self.db, self.current_user.name)
        if account is None or not account.email or account.email_verified:
            raise web.HTTPError(400, "There is no address to confirm on your account.")
        if not self.mailer.enabled:
            raise web.HTTPError(400, "This hub sends no email; ask an admin.")
        self.send_verification(account)
        self.redirect(url_path_join(self.hub.base_url, "account") + "?sent=1")


class ForgotPasswordHandler(AccountPageHandler):
    """/hub/forgot: a person who forgot their password gets a reset link by email.

    The page says the same whether or not an account has that name or address, so it
    tells no one who has an account; at most one link goes out per account per minute.
    """

    resend_after = 60

    async def _render(self, status=200, **ns):
        await self.render_page("forgot.html", status, mail_enabled=self.mailer.enabled, **ns)

    async def get(self):
        await self._render(404 if not self.mailer.enabled else 200)

    async def post(self):
        if not self.mailer.enabled:
            await self._render(404)
            return
        login = self.get_body_argument("login", "").strip().lower()[:255]
        if not login:
            await self._render(400, error="Give your username or your email address.")
            return
        account = Account.find(self.db, login)
        if account is not None and account.email and account.state == "active":
            if not PasswordReset.made_since(self.db, account.username, self.resend_after):
                _, path = self.authenticator.new_reset_link(self.db, account.username, None)
                expires = wait_in_words(self.authenticator.reset_link_expires_in)
                self.mailer.send_soon(
                    account.email,
                    "Set a new password",
                    f"Hello {account.username},\n\n"
                    "Someone (we hope you) asked to set a new password for your account. "
                    f"Open this link to choose one:\n\n{self.mailer.link(path)}\n\n"
                    f"It works once, for {expires}. Setting a password signs you out "
                    "everywhere else. If you did not ask, ignore this message: your "
                    "password stays as it is.\n",
                )
                self.log.info("Sent a password reset link to %s's address", account.username)
        await self._render(sent=True)


class AccountsAdminHandler(AccountPageHandler):
    """/hub/accounts: admins approve sign-ups, make sign-up codes and reset links."""

    @web.authenticated
    async def get(self):
        if not has_scope(ACCOUNTS_ADMIN_SCOPE, self.parsed_scopes):
            raise web.HTTPError(403, "Only admins can manage accounts.")
        await self.render_page(
            "accounts.html",
            user=self.current_user,
            signup_mode=self.authenticator.signup_mode,
        )


default_handlers = [
    (r"/signup", SignUpHandler),
    (r"/account", ChangePasswordHandler),
    (r"/reset/([^/]+)", ResetPasswordHandler),
    (r"/verify-email/([^/]+)", VerifyEmailHandler),
    (r"/account/verify-email", ResendVerificationHandler),
    (r"/forgot", ForgotPasswordHandler),
    (r"/accounts", AccountsAdminHandler),
]
