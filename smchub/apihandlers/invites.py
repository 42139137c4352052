"""Invite links: a collaborator makes one, anyone signed in who opens it joins.

Opening a link oneself is consent, so it adds the person at once (unlike being invited by
name, which waits for their answer). A link works only while its maker is a collaborator.
"""

from jupyterhub.utils import isoformat, url_path_join
from tornado import web

from .. import orm
from ..course_policy import check_made_by_instructor, check_may_add_people
from ..courses import is_email
from ..projects import check_not_viewer, is_viewer
from .base import SMCAPIHandler, service_errors

DEFAULT_EXPIRES_IN = 7 * 24 * 3600
MAX_EXPIRES_IN = 365 * 24 * 3600
MAX_USES_LIMIT = 100_000


def invite_model(invite):
    return {
        "id": invite.id,
        "prefix": invite.prefix,
        "created": isoformat(invite.created),
        "created_by": invite.created_by.name if invite.created_by else None,
        "expires_at": isoformat(invite.expires_at) if invite.expires_at else None,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "usable": invite.usable,
    }


def send_invitation(mailer, email, inviter, project, path, invite):
    """Email an invite link to `email`, in the background."""
    expires = f" It works until {isoformat(invite.expires_at)}." if invite.expires_at else ""
    mailer.send_soon(
        email,
        f"{inviter} invites you to the project {project.title!r}",
        f"Hello,\n\n{inviter} invites you to work with them in the project "
        f"{project.title!r}. Open this link, and sign in (or sign up) to join:\n\n"
        f"{mailer.link(path)}\n\n"
        f"The link lets {'one person' if invite.max_uses == 1 else 'whoever opens it'} "
        f"in.{expires} If you do not want to join, ignore this message.\n",
    )


def _positive_int(model, key, low, high):
    value = model.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise web.HTTPError(400, f"{key} must be a whole number (or null)")
    if not low <= value <= high:
        raise web.HTTPError(400, f"{key} must be between {low} and {high}")
    return value


class InviteListAPIHandler(SMCAPIHandler):
    """Make an invite link for a project, or list the project's links."""

    def get(self, project_id):
        project = self.find_project(project_id, self.current_caller(), write=False)
        self.write_json([invite_model(i) for i in project.invites])

    def post(self, project_id):
        # a link speaks for the person who made it (see InviteAcceptAPIHandler)
        person = self.current_person()
        project = self.find_project(project_id, person)
        if not self.manages_projects():
            with service_errors():
                check_not_viewer(project, person.id, "make invite links")
                check_may_add_people(self.db, project, person.id)
        model = self.json_object_body({"expires_in", "max_uses", "email"})
        expires_in = _positive_int(model, "expires_in", 60, MAX_EXPIRES_IN)
        if "expires_in" not in model:
            expires_in = DEFAULT_EXPIRES_IN
        max_uses = _positive_int(model, "max_uses", 1, MAX_USES_LIMIT)
        email = self._recipient(model)
        if email is not None and "max_uses" not in model:
            # a link sent to one person lets one person in
            max_uses = 1
        invite, token = orm.Invite.new(project, person.orm_user, expires_in, max_uses)
        self.db.add(invite)
        self.db.commit()
        self.log.info("%s made invite %s… for project %s", person.name, invite.prefix, project.id)
        path = url_path_join(self.hub.base_url, "projects/invite", token)
        if email is not None:
            send_invitation(self.smchub.mailer, email, person.name, project, path, invite)
        self.write_json(
            {
                "id": invite.id,
                "token": token,
                "url": path,
                "expires_at": isoformat(invite.expires_at) if invite.expires_at else None,
                "max_uses": invite.max_uses,
                "emailed_to": email,
            },
            status=201,
        )

    def _recipient(self, model):
        """The address to email the link to ({"email"}), checked; None for none."""
        email = model.get("email")
        if email is None:
            return None
        if not isinstance(email, str) or not is_email(email.strip()):
            raise web.HTTPError(400, "email must be an email address, like ada@example.org")
        if not self.smchub.mailer.enabled:
            raise web.HTTPError(
                400,
                "This hub sends no email (an admin sets c.SMCHub.smtp_host); send the "
                "invite link yourself.",
            )
        return email.strip()


class InviteAPIHandler(SMCAPIHandler):
    """Revoke one invite link."""

    def delete(self, project_id, invite_id):
        caller = self.current_caller()
        project = self.find_project(project_id, caller)
        if not self.manages_projects():
            with service_errors():
                check_not_viewer(project, caller.id, "revoke invite links")
        invite = next((i for i in project.invites if str(i.id) == invite_id), None)
        if invite is None:
            raise web.HTTPError(404, f"No such invite: {invite_id}")
        self.db.delete(invite)
        self.db.commit()
        self.set_status(204)
        self.finish()


class InviteAcceptAPIHandler(SMCAPIHandler):
    """Join the project an invite link belongs to."""

    def post(self, token):
        person = self.current_person()
        invite = orm.Invite.find(self.db, token)
        # a link speaks for its maker: one made by someone who now only views the
        # project lets nobody in, as they could not add anyone themselves
        if invite is None or not invite.usable or is_viewer(invite.project, invite.created_by_id):
            raise web.HTTPError(
                404, "This invite link is unknown, has expired or has been used up."
            )
        project = invite.project
        if project.collaborator(person.id) is None:
            with service_errors():
                check_made_by_instructor(self.db, project, invite.created_by, "This invite link")
            invite.uses += 1
            # opening a link oneself is consent: an invitation waiting for them is answered
            for invitation in [i for i in project.invitations if i.user_id == person.id]:
                project.invitations.remove(invitation)
            self.add_collaborator(project, person.orm_user)
            self.log.info(
                "%s joined project %s by invite %s…", person.name, project.id, invite.prefix
            )
        self.write_json(self.project_model(project))


default_handlers = [
    (r"/api/projects/([^/]+)/invites", InviteListAPIHandler),
    (r"/api/projects/([^/]+)/invites/([0-9]+)", InviteAPIHandler),
    (r"/api/invites/([^/]+)", InviteAcceptAPIHandler),
]
