"""A person's pending invitations to projects: /hub/api/invitations.

Being asked to join (PUT /api/projects/<id>/collaborators/<name>) makes an invitation;
only its person's answer makes them a collaborator.
"""

from tornado import web

from ..course_policy import check_made_by_instructor
from ..projects import (
    drop_invitation,
    find_invitation,
    invitation_model,
    is_viewer,
    pending_invitations,
)
from .base import SMCAPIHandler, service_errors


class InvitationListAPIHandler(SMCAPIHandler):
    """The invitations waiting for the caller's answer."""

    def get(self):
        person = self.current_person()
        invitations = pending_invitations(self.db, person.orm_user)
        self.write_json([invitation_model(i) for i in invitations])


def _no_such_invitation(invitation_id):
    return web.HTTPError(404, f"No such invitation: {invitation_id}")


class InvitationAPIHandler(SMCAPIHandler):
    """Decline an invitation (its person), or withdraw it (a collaborator of its project)."""

    def delete(self, invitation_id):
        caller = self.current_caller()
        invitation = find_invitation(
            self.db,
            invitation_id,
            caller.orm_user,
            may_withdraw=True,
            admin=self.manages_projects(),
        )
        if invitation is None:
            raise _no_such_invitation(invitation_id)
        drop_invitation(self.db, invitation)
        self.log.info("%s dropped invitation %s", caller.name, invitation_id)
        self.set_status(204)
        self.finish()


class InvitationAcceptAPIHandler(SMCAPIHandler):
    """Accept an invitation: the caller joins the project."""

    def post(self, invitation_id):
        person = self.current_person()
        invitation = find_invitation(self.db, invitation_id, person.orm_user)
        if invitation is None:
            raise _no_such_invitation(invitation_id)
        project = invitation.project
        if project.collaborator(person.id) is None:
            with service_errors():
                check_made_by_instructor(self.db, project, invitation.invited_by, "This invitation")
            # an invitation speaks for its sender, who may since have been made a viewer
            if invitation.invited_by is not None and is_viewer(project, invitation.invited_by.id):
                raise web.HTTPError(
                    403,
                    "This invitation was sent by someone who now only views this project, "
                    "so it lets nobody in; ask the project's owner to invite you.",
                )
        project.invitations.remove(invitation)
        # add_collaborator commits when it adds; this commits when they were already in
        self.add_collaborator(project, person.orm_user)
        self.db.commit()
        self.log.info(
            "%s accepted invitation %s to project %s", person.name, invitation_id, project.id
        )
        self.write_json(self.project_model(project))


default_handlers = [
    (r"/api/invitations", InvitationListAPIHandler),
    (r"/api/invitations/([0-9]+)", InvitationAPIHandler),
    (r"/api/invitations/([0-9]+)/accept", InvitationAcceptAPIHandler),
]
