"""Accounts for SMCAuthenticator, kept in smchub's tables and migrations."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from ..orm import USERS_ID, Base, now


class Account(Base):
    """A username/password account; the person is the JupyterHub user of that name."""

    __tablename__ = "smc_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Unicode(255), unique=True)
    email: Mapped[str | None] = mapped_column(Unicode(255), unique=True, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True
    )
