"""smchub's own tables.

They live in their own MetaData with their own alembic history (version table
``smchub_alembic_version``), beside JupyterHub's tables, which are left alone. Rows that
refer to people point at JupyterHub's ``users`` table and go away with the person.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from jupyterhub import orm as hub_orm
from jupyterhub.utils import utcnow
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Unicode,
    UnicodeText,
    UniqueConstraint,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    backref,
    declared_attr,
    mapped_column,
    relationship,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USERS_ID = hub_orm.User.__table__.c.id


def now():
    """Naive UTC, as JupyterHub stores its own timestamps."""
    return utcnow(with_tz=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PinnedEnvironment:
    """A software environment chosen for a project or a course (smchub/environments.py),
    and the image it was pinned to at its first start: the reference the node resolved
    it to (a RepoDigest, or the image ID of an image built on the node), the image name
    it was resolved from and the kind of node. A null environment is the hub's default.
    """

    environment: Mapped[str | None] = mapped_column(Unicode(64), nullable=True)
    image_digest: Mapped[str | None] = mapped_column(Unicode(512), nullable=True)
    image_source: Mapped[str | None] = mapped_column(Unicode(512), nullable=True)
    image_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Project(PinnedEnvironment, Base):
    """A workspace with its own files, terminals and kernels.

    Served by the JupyterHub user whose name is the project's id; its last activity is
    that user's, as JupyterHub records it from the server.
    """

    __tablename__ = "smc_projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(Unicode(200))
    description: Mapped[str] = mapped_column(UnicodeText, default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # when it was deleted: its owner may undelete it for c.SMCHub.deleted_retention_days
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # the last snapshot that failed (cleared by the next one that works), for its page
    snapshot_error: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    snapshot_error_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # only the quotas an admin set for this project; the rest come from
    # c.SMCHub.default_quotas, so changing a default reaches every project
    quota_overrides: Mapped[dict] = mapped_column(JSON, default=dict)
    # the compute node that holds the project's files (None until first placed)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # node labels this project must run on (set by admins), e.g. {"gpu": "yes"}
    node_labels: Mapped[dict] = mapped_column(JSON, default=dict)

    collaborators: Mapped[list["Collaborator"]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="Collaborator.added",
    )
    invites: Mapped[list["Invite"]] = relationship(
        back_populates="project", cascade="all, delete-orphan"
    )
    # loaded with the project: every project model lists its pending invitations, and a
    # list of projects then costs one query for all of them
    invitations: Mapped[list["Invitation"]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="Invitation.id",
    )

    @property
    def owner(self):
        for c in self.collaborators:
            if c.role == "owner":
                return c.user
        return None

    def collaborator(self, user_id):
        for c in self.collaborators:
            if c.user_id == user_id:
                return c
        return None

    def __repr__(self):
        return f"<Project {self.id} {self.title!r}>"


class Collaborator(Base):
    """A person with access to a project; the first one is its owner."""

    __tablename__ = "smc_collaborators"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("smc_projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey(USERS_ID, ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="collaborator")
    added: Mapped[datetime] = mapped_column(DateTime, default=now)

    project: Mapped[Project] = relationship(back_populates="collaborators")
    user: Mapped[hub_orm.User] = relationship(hub_orm.User, lazy="selectin")


def hash_token(token):
    # invite tokens are 256-bit random values, so one round of sha256 is enough
    # (JupyterHub salts and stretches because API tokens can be chosen by people)
    return hashlib.sha256(token.encode("utf8")).hexdigest()


class LimitedUseToken:
    """A secret link's row: stored as a hash, with an expiry and a use limit.

    Mixed into invites (joining a project) and sign-up codes (making an account). The
    token itself is shown once, when it is made.
    """

    hashed: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True)

    @declared_attr
    def created_by(cls) -> Mapped[hub_orm.User | None]:
        return relationship(hub_orm.User)

    @classmethod
    def make(cls, created_by, expires_in=None, max_uses=None, nbytes=32, **fields):
        """A new row and its token (which is not stored)."""
        token = secrets.token_urlsafe(nbytes)
        row = cls(
            hashed=hash_token(token),
            prefix=token[:6],
            created_by=created_by,
            expires_at=now() + timedelta(seconds=expires_in) if expires_in else None,
            max_uses=max_uses,
            uses=0,
            **fields,
        )
        return row, token

    @classmethod
    def find(cls, db, token):
        if not token or len(token) > 200:
            return None
        return db.query(cls).filter_by(hashed=hash_token(token)).one_or_none()

    @property
    def expired(self):
        return self.expires_at is not None and self.expires_at <= now()

    @property
    def used_up(self):
        return self.max_uses is not None and self.uses >= self.max_uses


class Invitation(Base):
    """A person asked to join a project, who has not yet accepted or declined.

    Nobody becomes a collaborator without choosing to: a project's code runs in the
    browser of whoever opens it, so being added silently would let anyone make another
    person open what they planted.
    """

    __tablename__ = "smc_invitations"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id", name="uq_smc_invitations_project_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("smc_projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey(USERS_ID, ondelete="CASCADE"), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True
    )
    created: Mapped[datetime] = mapped_column(DateTime, default=now)

    project: Mapped[Project] = relationship(back_populates="invitations")
    user: Mapped[hub_orm.User] = relationship(hub_orm.User, foreign_keys=[user_id])
    invited_by: Mapped[hub_orm.User | None] = relationship(
        hub_orm.User, foreign_keys=[invited_by_id]
    )


class Invite(LimitedUseToken, Base):
    """A link that adds whoever opens it to a project.

    It speaks for the collaborator who made it, so it works only while they are one.
    """

    __tablename__ = "smc_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("smc_projects.id", ondelete="CASCADE"), index=True
    )

    project: Mapped[Project] = relationship(back_populates="invites")

    @classmethod
    def new(cls, project, created_by, expires_in=None, max_uses=None):
        return cls.make(created_by, expires_in, max_uses, project=project)

    @property
    def usable(self):
        if self.expired or self.used_up or self.project.deleted:
            return False
        # a link speaks for its maker: removing a collaborator deletes their links, and
        # this covers every other way out (leaving, a deleted account, older links)
        if self.created_by_id is None:
            return False
        if self.project.collaborator(self.created_by_id) is not None:
            return True
        return self.created_by.admin


class Snapshot(Base):
    """A restic snapshot of a project's home (smchub/snapshots.py).

    The repository holds the files; this row is the project's index of them, with what
    restic reported when it took it (restic 0.14 keeps no such summary itself), and the
    guard that a snapshot id is only ever used with its own project.
    """

    __tablename__ = "smc_snapshots"

    # restic's full snapshot id (64 hex digits)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("smc_projects.id", ondelete="CASCADE"), index=True
    )
    time: Mapped[datetime] = mapped_column(DateTime, default=now)
    trigger: Mapped[str] = mapped_column(String(16))
    node: Mapped[str | None] = mapped_column(Unicode(255), nullable=True)
    files_new: Mapped[int] = mapped_column(Integer, default=0)
    files_changed: Mapped[int] = mapped_column(Integer, default=0)
    bytes_added: Mapped[int] = mapped_column(BigInteger, default=0)


NODE_STATES = ("active", "draining", "down")


class ComputeNode(Base):
    """A machine (or engine) that runs project servers.

    ``backend`` says how: local processes, a Docker Engine, a Docker Swarm, Kubernetes.
    Capacity is what placement may hand out (times the overcommit factors).
    """

    __tablename__ = "smc_compute_nodes"

    name: Mapped[str] = mapped_column(Unicode(255), primary_key=True)
    backend: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Unicode(1024), default="")
    cpu: Mapped[float] = mapped_column(Float)
    memory_mb: Mapped[int] = mapped_column(Integer)
    labels: Mapped[dict] = mapped_column(JSON, default=dict)
    # backend settings: TLS files of a Docker Engine, the image, the address the hub
    # reaches its servers at, the folder of project homes...
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="active")
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    # when the node's engine last answered a health check
    last_seen: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # declared in c.SMCHub.compute_nodes (synced at every start)
    from_config: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self):
        return f"<ComputeNode {self.name} {self.backend} {self.state}>"


class Course(PinnedEnvironment, Base):
    """A class run from an instructor's project.

    The course project's collaborators are the course's instructors and assistants; its
    folders are the assignments and handouts.
    """

    __tablename__ = "smc_courses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("smc_projects.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(Unicode(200))
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # the course's settings for its students' projects (course_policy.py)
    students_can_share: Mapped[bool] = mapped_column(Boolean, default=False)
    # an exam window (UTC); while it is open, its restrictions hold in students' projects
    exam_start: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    exam_end: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    exam_no_terminals: Mapped[bool] = mapped_column(Boolean, default=False)
    exam_no_downloads: Mapped[bool] = mapped_column(Boolean, default=False)
    exam_no_network: Mapped[bool] = mapped_column(Boolean, default=False)
    # teachers other than the course project's owner only view students' projects
    assistants_view_only: Mapped[bool] = mapped_column(Boolean, default=False)

    project: Mapped[Project] = relationship()
    students: Mapped[list["CourseStudent"]] = relationship(
        back_populates="course", cascade="all, delete-orphan", order_by="CourseStudent.id"
    )
    assignments: Mapped[list["Assignment"]] = relationship(
        back_populates="course", cascade="all, delete-orphan", order_by="Assignment.id"
    )


class CourseStudent(Base):
    """A student of a course: a person (or, before they sign up, an email address) and
    the project the course made for them."""

    __tablename__ = "smc_course_students"
    __table_args__ = (
        UniqueConstraint("course_id", "user_id", name="uq_smc_course_students_course_user"),
        UniqueConstraint("course_id", "email", name="uq_smc_course_students_course_email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(
        ForeignKey("smc_courses.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True, index=True
    )
    email: Mapped[str | None] = mapped_column(Unicode(255), nullable=True, index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("smc_projects.id", ondelete="SET NULL"), nullable=True, index=True
    )
    added: Mapped[datetime] = mapped_column(DateTime, default=now)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    # someone who signed up with the place's email, which no authenticator verified:
    # the place is theirs once an instructor approves (anyone can type any address)
    claimant_id: Mapped[int | None] = mapped_column(
        ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True
    )

    course: Mapped[Course] = relationship(back_populates="students")
    user: Mapped[hub_orm.User | None] = relationship(
        hub_orm.User, lazy="selectin", foreign_keys=[user_id]
    )
    claimant: Mapped[hub_orm.User | None] = relationship(
        hub_orm.User, lazy="selectin", foreign_keys=[claimant_id]
    )
    work: Mapped[list["StudentAssignment"]] = relationship(
        back_populates="student", cascade="all, delete-orphan"
    )

    @property
    def name(self):
        return self.user.name if self.user is not None else self.email


class Assignment(Base):
    """A folder of the course project that goes out to every student.

    Assignments are collected, graded and returned; handouts are only copied out.
    """

    __tablename__ = "smc_assignments"
    __table_args__ = (UniqueConstraint("course_id", "path", name="uq_smc_assignments_course_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(
        ForeignKey("smc_courses.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Unicode(1024))
    kind: Mapped[str] = mapped_column(String(16), default="assignment")
    due: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    # peer feedback: how many other students review each student's collected work
    # (smchub/peer_review.py); null when the assignment has none
    peer_k: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # autograded assignments (smchub/autograde.py): the seconds a cell and a notebook may
    # run while a student's work is graded; null for the defaults
    autograde_cell_timeout: Mapped[float | None] = mapped_column(Float, nullable=True)
    autograde_notebook_timeout: Mapped[float | None] = mapped_column(Float, nullable=True)

    course: Mapped[Course] = relationship(back_populates="assignments")


class StudentAssignment(Base):
    """Where one student is with one assignment (or handout)."""

    __tablename__ = "smc_student_assignments"

    student_id: Mapped[int] = mapped_column(
        ForeignKey("smc_course_students.id", ondelete="CASCADE"), primary_key=True
    )
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("smc_assignments.id", ondelete="CASCADE"), primary_key=True
    )
    assigned: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    collected: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    graded: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    returned: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    grade: Mapped[str | None] = mapped_column(Unicode(64), nullable=True)
    comments: Mapped[str] = mapped_column(UnicodeText, default="")
    # the last step that failed for this student, and why
    error: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    # this student's own deadline (an extension), instead of the assignment's
    due: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # the collection made at the deadline: when, for which deadline (a due date moved
    # later collects again), and a digest of the work it took, so that work changed
    # afterwards is told apart and collected separately as late
    due_collected: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    due_collected_for: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    due_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    late_collected: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    student: Mapped[CourseStudent] = relationship(back_populates="work")
    assignment: Mapped[Assignment] = relationship()


class AutogradeScore(Base):
    """The score nbgrader's autograding gave one graded cell of a student's notebook.

    A student's rows for an assignment are replaced together each time it is graded
    again. Points are null for a cell only a person can score (a written answer).
    """

    __tablename__ = "smc_autograde_scores"
    __table_args__ = (
        ForeignKeyConstraint(
            ["student_id", "assignment_id"],
            ["smc_student_assignments.student_id", "smc_student_assignments.assignment_id"],
            ondelete="CASCADE",
        ),
    )

    student_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    # the notebook's name in the assignment folder, without .ipynb
    notebook: Mapped[str] = mapped_column(Unicode(255), primary_key=True)
    # nbgrader's grade_id of the cell
    cell_id: Mapped[str] = mapped_column(Unicode(255), primary_key=True)
    points: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_points: Mapped[float] = mapped_column(Float)
    needs_manual_grade: Mapped[bool] = mapped_column(Boolean, default=False)
    # why the cell has no score of its own (its notebook timed out, gave no result)
    error: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    graded: Mapped[datetime] = mapped_column(DateTime, default=now)
    # a person's grading (grading.py), kept when the notebook is autograded again:
    # their points replace `points`; overriding an automatic score needs a reason
    manual_points: Mapped[float | None] = mapped_column(Float, nullable=True)
    comment: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    override_reason: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    # the person's name (a user may be deleted; the record of who graded stays)
    graded_by: Mapped[str | None] = mapped_column(Unicode(255), nullable=True)
    manually_graded: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    # loaded with the work rows (selectin): a class's page costs one more query, not one
    # per student
    work: Mapped[StudentAssignment] = relationship(
        backref=backref("autograde_scores", lazy="selectin", cascade="all, delete-orphan",
                        passive_deletes=True),
    )  # fmt: skip


class PeerReview(Base):
    """One student (the reviewer) reviewing another's collected work (the author's) for
    an assignment with peer feedback.

    The pairing is kept so that a step retried, or taken up again after a restart,
    copies to the same reviewers. Each side knows the other only by a label: the
    reviewer sees the work as `work_label`, the author and the instructors see the
    feedback as from `reviewer_label`.
    """

    __tablename__ = "smc_peer_reviews"
    __table_args__ = (
        UniqueConstraint(
            "assignment_id", "reviewer_id", "work_label", name="uq_smc_peer_reviews_work_label"
        ),
        UniqueConstraint(
            "assignment_id", "author_id", "reviewer_label", name="uq_smc_peer_reviews_from_label"
        ),
    )

    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("smc_assignments.id", ondelete="CASCADE"), primary_key=True
    )
    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("smc_course_students.id", ondelete="CASCADE"), primary_key=True
    )
    author_id: Mapped[int] = mapped_column(
        ForeignKey("smc_course_students.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    work_label: Mapped[str] = mapped_column(Unicode(64))
    reviewer_label: Mapped[str] = mapped_column(Unicode(64))
    created: Mapped[datetime | None] = mapped_column(DateTime, default=now, nullable=True)
    # when the author's work was copied into the reviewer's project
    copied: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # when the reviewer's feedback was copied back into the course project
    feedback_collected: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    reviewer: Mapped[CourseStudent] = relationship(foreign_keys=[reviewer_id])
    author: Mapped[CourseStudent] = relationship(foreign_keys=[author_id])


class CourseJob(Base):
    """A course step run for several students (smchub/coursework.py).

    It lives here rather than in the hub's memory so that a hub stopped in the middle
    finds it at its next start and carries on, or says which students to run again.
    """

    __tablename__ = "smc_course_jobs"

    # uuid4 hex: not guessable, and never repeated across restarts
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    course_id: Mapped[str] = mapped_column(
        ForeignKey("smc_courses.id", ondelete="CASCADE"), index=True
    )
    # null once the assignment is deleted; its path stays for the course page. A class-wide
    # action (start, stop, exec) has no assignment: null and ""
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("smc_assignments.id", ondelete="SET NULL"), nullable=True
    )
    assignment_path: Mapped[str] = mapped_column(Unicode(1024))
    # assign, collect, return, peer, peer-collect (coursework.STEPS) or start, stop, exec
    # (coursework.ACTIONS)
    step: Mapped[str] = mapped_column(String(16))
    # what exec runs in every student's project, and for how long at most (seconds)
    command: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    command_timeout: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey(USERS_ID, ondelete="SET NULL"), nullable=True
    )
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # "completed" (every student ran, some may have failed) or "abandoned" (a restarted
    # hub could not take it up again; `reason` says why)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    # how many times a restarted hub took it up again
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    # the job started the course project's server, so stops it when done
    course_server_started: Mapped[bool] = mapped_column(Boolean, default=False)
    # "person" (started_by started it) or "deadline" (the hub, at students' deadlines)
    trigger: Mapped[str] = mapped_column(String(16), default="person", server_default="person")

    started_by: Mapped[hub_orm.User | None] = relationship(hub_orm.User)
    students: Mapped[list["CourseJobStudent"]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        order_by="CourseJobStudent.student_id",
        lazy="selectin",
    )


COURSE_JOB_STATES = ("pending", "running", "done", "failed")


class CourseJobStudent(Base):
    """One student of a course job: where the step is for them, and why it failed."""

    __tablename__ = "smc_course_job_students"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("smc_course_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    student_id: Mapped[int] = mapped_column(
        ForeignKey("smc_course_students.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # as the student was called when the job started
    name: Mapped[str] = mapped_column(Unicode(255))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)
    started: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # the job started the student's server, so stops it (also after a restart)
    server_started: Mapped[bool] = mapped_column(Boolean, default=False)
    # exec: the command's exit code and the end of its output (coursework.OUTPUT_TAIL)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output: Mapped[str | None] = mapped_column(UnicodeText, nullable=True)

    job: Mapped[CourseJob] = relationship(back_populates="students")
    student: Mapped[CourseStudent] = relationship()
