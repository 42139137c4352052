"""Admin REST API for accounts and sign-up codes.

/hub/api/accounts...: pending sign-ups, approval, lockouts, password-reset links.
/hub/api/signup-tokens...: registration tokens (a class's sign-up code).
"""

from jupyterhub import orm as hub_orm
from jupyterhub.scopes import has_scope
from jupyterhub.utils import isoformat, url_path_join
from tornado import web
from tornado.httputil import url_concat

from ..jsonapi import JSONAPIHandler
from ..names import is_project_name
from ..scopes import ACCOUNTS_ADMIN_SCOPE
from . import lockout
from .orm import ACCOUNT_STATES, Account, PasswordReset, SignupToken

MAX_EXPIRES_IN = 365 * 24 * 3600
MAX_USES_LIMIT = 100_000
MAX_NOTE_LENGTH = 255


def signup_token_model(row):
    return {
        "id": row.id,
        "prefix": row.prefix,
        "note": row.note,
        "created": isoformat(row.created),
        "created_by": row.created_by.name if row.created_by else None,
        "expires_at": isoformat(row.expires_at),
        "max_uses": row.max_uses,
        "uses": row.uses,
        "usable": row.problem() is None,
    }


def account_model(account, locked_until=None):
    token = account.signup_token
    return {
        "username": account.username,
        "email": account.email,
        "email_verified": bool(account.email_verified),
        "state": account.state,
        "created": isoformat(account.created),
        "signup_token": {"id": token.id, "note": token.note} if token else None,
        "locked_until": isoformat(locked_until),
    }


def whole_number(model, key, low, high):
    """model[key] as an int in [low, high], or None when it is null or absent."""
    value = model.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise web.HTTPError(400, f"{key} must be a whole number (or null).")
    if not low <= value <= high:
        raise web.HTTPError(400, f"{key} must be between {low} and {high}.")
    return value


class AccountsAdminAPIHandler(JSONAPIHandler):
    """Base: admins only (the admin:users scope), accounts found by username."""

    def current_admin(self):
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        if not has_scope(ACCOUNTS_ADMIN_SCOPE, self.parsed_scopes):
            raise web.HTTPError(403, "Only admins can manage accounts and sign-up codes.")
        return self.current_user

    def created_by(self):
        # services have no row in users
        return getattr(self.current_admin(), "orm_user", None)

    def find_account(self, username):
        account = Account.find(self.db, username.lower())
        if account is None:
            raise web.HTTPError(404, f"No such account: {username}")
        return account

    def account_models(self, accounts):
        locks = lockout.locked_until(self.db, "account", [a.username for a in accounts])
        return [account_model(a, locks.get(a.username)) for a in accounts]

    def write_account(self, account):
        self.write_json(self.account_models([account])[0])


class AccountListAPIHandler(AccountsAdminAPIHandler):
    """GET /api/accounts[?state=pending]: accounts, oldest first."""

    def get(self):
        self.current_admin()
        state = self.get_argument("state", None)
        query = self.db.query(Account)
        if state is not None:
            if state not in ACCOUNT_STATES:
                raise web.HTTPError(400, f"state must be one of {', '.join(ACCOUNT_STATES)}.")
            query = query.filter_by(state=state)
        offset, limit = self.get_api_pagination()
        accounts = query.order_by(Account.created, Account.id).offset(offset).limit(limit).all()
        self.write_json(self.account_models(accounts))


class AccountAPIHandler(AccountsAdminAPIHandler):
    """GET/DELETE /api/accounts/<username or email>.

    Deleting removes the password account only: a JupyterHub user of that name, with
    their projects, stays (delete them in JupyterHub's admin page to remove both).
    """

    def get(self, username):
        self.current_admin()
        self.write_account(self.find_account(username))

    def delete(self, username):
        self.current_admin()
        account = self.find_account(username)
        name = account.username
        self.db.delete(account)
        PasswordReset.forget(self.db, name)
        self.db.commit()
        lockout.clear(self.db, "account", name)
        self.log.info("%s deleted the account of %s", self.current_user.name, name)
        self.set_status(204)
        self.finish()


class AccountActionAPIHandler(AccountsAdminAPIHandler):
    """POST /api/accounts/<username>/(approve|reject|unlock)."""

    def post(self, username, action):
        self.current_admin()
        account = self.find_account(username)
        if action == "approve":
            account.state = "active"
        elif action == "reject":
            if account.state == "active":
                raise web.HTTPError(
                    409,
                    f"{account.username}'s account is already active; to remove it, delete "
                    "the user in JupyterHub's admin page.",
                )
            account.state = "rejected"
        self.db.commit()
        if action == "unlock":
            lockout.clear(self.db, "account", account.username)
        self.log.info("%s: %s %s", self.current_user.name, action, account.username)
        self.write_account(account)


class ResetLinkAPIHandler(AccountsAdminAPIHandler):
    """POST /api/accounts/<username>/reset-link {expires_in?}: a one-time link.

    Works for people without an account too (added in JupyterHub's admin page): the
    link gives them one. Earlier links for the same person stop working.
    """

    def post(self, username):
        self.current_admin()
        model = self.json_object_body({"expires_in"})
        expires_in = whole_number(model, "expires_in", 60, MAX_EXPIRES_IN)
        name = username.lower()
        known = not is_project_name(name) and (
            Account.find(self.db, name) is not None or hub_orm.User.find(self.db, name) is not None
        )
        if "@" in name or not known:
            raise web.HTTPError(404, f"No such person: {username}")
        reset, path = self.authenticator.new_reset_link(
            self.db, name, self.created_by(), expires_in
        )
        self.log.info("%s made a password-reset link for %s", self.current_user.name, name)
        self.write_json(
            {"username": name, "url": path, "expires_at": isoformat(reset.expires_at)},
            status=201,
        )


class SignupTokenListAPIHandler(AccountsAdminAPIHandler):
    """GET/POST /api/signup-tokens: list sign-up codes, or make one."""

    def get(self):
        self.current_admin()
        rows = self.db.query(SignupToken).order_by(SignupToken.created, SignupToken.id)
        self.write_json([signup_token_model(row) for row in rows])

    def post(self):
        self.current_admin()
        model = self.json_object_body({"note", "expires_in", "max_uses"})
        note = model.get("note") or ""
        if not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH:
            raise web.HTTPError(400, f"note must be text of at most {MAX_NOTE_LENGTH} characters.")
        expires_in = whole_number(model, "expires_in", 60, MAX_EXPIRES_IN)
        if "expires_in" not in model:
            expires_in = self.authenticator.signup_token_expires_in
        max_uses = whole_number(model, "max_uses", 1, MAX_USES_LIMIT)
        row, token = SignupToken.new(self.created_by(), note.strip(), expires_in, max_uses)
        self.db.add(row)
        self.db.commit()
        self.log.info("%s made sign-up code %s… (%s)", self.current_user.name, row.prefix, note)
        signup_url = url_concat(url_path_join(self.hub.base_url, "signup"), {"token": token})
        self.write_json({**signup_token_model(row), "token": token, "url": signup_url}, 201)


class SignupTokenAPIHandler(AccountsAdminAPIHandler):
    """DELETE /api/signup-tokens/<id>: the code stops working; its accounts stay."""

    def delete(self, token_id):
        self.current_admin()
        row = self.db.get(SignupToken, int(token_id))
        if row is None:
            raise web.HTTPError(404, f"No such sign-up code: {token_id}")
        self.db.delete(row)
        self.db.commit()
        self.log.info("%s deleted sign-up code %s…", self.current_user.name, row.prefix)
        self.set_status(204)
        self.finish()


default_handlers = [
    (r"/api/accounts", AccountListAPIHandler),
    (r"/api/accounts/([^/]+)", AccountAPIHandler),
    (r"/api/accounts/([^/]+)/(approve|reject|unlock)", AccountActionAPIHandler),
    (r"/api/accounts/([^/]+)/reset-link", ResetLinkAPIHandler),
    (r"/api/signup-tokens", SignupTokenListAPIHandler),
    (r"/api/signup-tokens/([0-9]{1,9})", SignupTokenAPIHandler),
]
