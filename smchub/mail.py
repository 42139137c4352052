"""Email from the hub over SMTP: address verification, password resets, invitations to a
project, notes to students added to a course.

Off unless the admin names a server (c.SMCHub.smtp_host); pages hide what needs email
when it is off, and API routes that would send one say so. Messages go out from a
thread (smtplib blocks), in the background: a slow or failing mail server delays or
loses a message, which is logged, and never a request.
"""

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from traitlets import Float, Int, Unicode
from traitlets.config import LoggingConfigurable


class Mailer(LoggingConfigurable):
    """Sends the hub's email; the settings are SMCHub's smtp_* (see SMCHub.init_mailer)."""

    host = Unicode("")
    port = Int(587)
    username = Unicode("")
    password = Unicode("")
    # "starttls" (upgrade a plain connection, port 587), "ssl" (TLS from the start, 465)
    # or "none" (a server on the same machine or a trusted network only)
    security = Unicode("starttls")
    sender = Unicode("")
    timeout = Float(30)
    # where links in messages point: the hub's public origin, e.g. https://hub.example.org
    hub_url = Unicode("")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._sending = set()

    @property
    def enabled(self):
        return bool(self.host)

    def link(self, path):
        """The full URL, for a message, of a path on the hub (e.g. /hub/reset/<token>)."""
        return self.hub_url.rstrip("/") + "/" + path.lstrip("/")

    def message(self, to, subject, text):
        msg = EmailMessage()
        msg["From"] = self.sender or formataddr(("smchub", f"smchub@{self._sender_domain()}"))
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain=self._sender_domain())
        msg.set_content(text)
        return msg

    def _sender_domain(self):
        return self.host if "." in self.host else "localhost"

    def _deliver(self, msg):
        """Hand `msg` to the SMTP server (blocking: runs in a thread)."""
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)

    async def send(self, to, subject, text):
        """Send one message now; raises what the server answered (smtplib's errors)."""
        if not self.enabled:
            raise RuntimeError("this hub sends no email (c.SMCHub.smtp_host is not set)")
        await asyncio.to_thread(self._deliver, self.message(to, subject, text))
        self.log.info("Sent email %r to %s", subject, to)

    def send_soon(self, to, subject, text):
        """Send in the background; a failure is logged, never raised."""
        if not self.enabled or not to:
            return

        async def send():
            try:
                await self.send(to, subject, text)
            except Exception as e:
                self.log.error("Could not send email %r to %s: %s", subject, to, e)

        task = asyncio.ensure_future(send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def close(self, wait=10):
        """Give messages still going out up to `wait` seconds (at the hub's stop)."""
        if self._sending:
            await asyncio.wait(list(self._sending), timeout=wait)
