"""Errors the authenticator raises to its pages and API."""


class SignupError(ValueError):
    """A sign-up that cannot go ahead; the message tells the person why."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status
