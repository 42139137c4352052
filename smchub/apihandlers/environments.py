"""REST API for software environments: /hub/api/environments (smchub/environments.py)."""

from .base import SMCAPIHandler


class EnvironmentListAPIHandler(SMCAPIHandler):
    """The environments people may choose for a project or a course; admins also see
    the images and kernels each one runs."""

    def get(self):
        self.current_caller()
        admin = self.is_admin()
        self.write_json([e.model(admin) for e in self.smchub.environment_choices])


default_handlers = [(r"/api/environments", EnvironmentListAPIHandler)]
