"""Software environments: what a project's server runs with (c.SMCHub.environments).

An environment is what JupyterHub's profile lists and DockerSpawner's allowed_images offer:
a named choice an admin defines once, and a person picks per project (or an instructor
per course). On container nodes (docker, swarm, kubernetes) it is an image; on local nodes
it is the set of kernels the server offers, out of those the node has installed.

An environment that names an image is *pinned*: the first start of a project with it
resolves the image to what the node has under that name (its RepoDigest, or its image ID
for an image built on the node), and every later start uses exactly that, so an admin
rebuilding or retagging the image never changes a project's software under its feet.
The pin is dropped when the project (or its course) is switched to an environment,
and made again at the next start. An environment without an image (the built-in
"minimal") runs the node's own configured image, unpinned, as projects always have.

Students' course projects take their course's environment and the course's pin, not
their own: the first student project of the course that starts pins the image for the
whole class, so every student of a course runs the same software all semester, whichever
day their project first starts. Changing the course's environment drops the course's pin;
students' servers take the new one at their next start.

Everything here is pure: the hub (spawners/spawner.py) does the resolving through the
node's backend and stores the pins.
"""

import re
from dataclasses import dataclass

from . import orm
from .projects import InvalidInput

# the kinds of node that run images; local nodes offer kernels instead
IMAGE_KINDS = ("docker", "swarm", "kubernetes")
SPEC_KEYS = ("name", "display_name", "description", "image", "kernels", "default")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")

MINIMAL = {
    "name": "minimal",
    "display_name": "Minimal (Python)",
    "description": "Python and JupyterLab, as the compute node provides them.",
    "default": True,
}


class UnknownEnvironment(InvalidInput):
    """A name that is not one of the hub's environments; the message lists them."""


class PinnedImageMissing(RuntimeError):
    """The image a project (or its course) is pinned to is gone from its node."""


@dataclass(frozen=True)
class Environment:
    """One entry of c.SMCHub.environments, checked."""

    name: str
    display_name: str
    description: str = ""
    # None: the node's own image; else {node kind: image}
    images: dict | None = None
    # None: every kernel the local node has; else the kernelspec names offered
    kernels: tuple | None = None
    default: bool = False

    def image_for(self, kind):
        """The image (as the admin named it) a node of `kind` runs, or None for the
        node's own configured image (and for local nodes, which run no image)."""
        if self.images is None:
            return None
        return self.images.get(kind)

    def model(self, admin=False):
        """The JSON form: everyone sees the choice, admins also what it runs."""
        model = {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "default": self.default,
        }
        if admin:
            model["images"] = dict(self.images) if self.images is not None else None
            model["kernels"] = list(self.kernels) if self.kernels is not None else None
        return model


def _check_entry(index, spec):
    where = f"environment {index + 1}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a dict with some of: {', '.join(SPEC_KEYS)}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the keys are {', '.join(SPEC_KEYS)}"
        )
    name = spec.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(
            f"{where}: name must be a short slug (lowercase letters, digits, '.', '_', '-'), "
            f"not {name!r}"
        )
    where = f"environment {name!r}"
    display_name = spec.get("display_name", name)
    description = spec.get("description", "")
    for key, value in (("display_name", display_name), ("description", description)):
        if not isinstance(value, str):
            raise ValueError(f"{where}: {key} must be a string")
    image = spec.get("image")
    if image is None:
        images = None
    elif isinstance(image, str) and image.strip():
        # one image for every kind of container node
        images = {kind: image.strip() for kind in IMAGE_KINDS}
    elif isinstance(image, dict) and image:
        bad = sorted(set(image) - set(IMAGE_KINDS))
        if bad:
            raise ValueError(
                f"{where}: image has unknown node kind(s) {', '.join(map(repr, bad))}; "
                f"give images for {', '.join(IMAGE_KINDS)}"
            )
        if not all(isinstance(v, str) and v.strip() for v in image.values()):
            raise ValueError(f"{where}: each image must be a non-empty image name")
        images = {kind: value.strip() for kind, value in image.items()}
    else:
        raise ValueError(
            f"{where}: image must be an image name, or a dict of them by node kind "
            f"({', '.join(IMAGE_KINDS)})"
        )
    kernels = spec.get("kernels")
    if kernels is not None:
        if (
            not isinstance(kernels, list | tuple)
            or not kernels
            or not all(isinstance(k, str) and k.strip() for k in kernels)
        ):
            raise ValueError(
                f"{where}: kernels must be a non-empty list of kernelspec names "
                '(as `jupyter kernelspec list` shows them, e.g. ["python3", "ir"])'
            )
        kernels = tuple(k.strip() for k in kernels)
    default = spec.get("default", False)
    if not isinstance(default, bool):
        raise ValueError(f"{where}: default must be true or false")
    return Environment(name, display_name, description, images, kernels, default)


def check_environments(specs):
    """c.SMCHub.environments as a tuple of Environments; ValueError says what to fix.

    With one entry, it is the default; with several, exactly one says default: True.
    """
    if not isinstance(specs, list | tuple):
        raise ValueError("must be a list of dicts")
    if not specs:
        specs = [MINIMAL]
    environments = [_check_entry(i, spec) for i, spec in enumerate(specs)]
    names = [e.name for e in environments]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"environment name(s) given twice: {', '.join(twice)}")
    defaults = [e.name for e in environments if e.default]
    if len(environments) == 1 and not defaults:
        environments[0] = _check_entry(0, {**specs[0], "default": True})
    elif len(defaults) != 1:
        raise ValueError(
            f"exactly one environment must say default: True, not {len(defaults)} "
            f"({', '.join(defaults) or 'none'})"
        )
    return tuple(environments)


def default_environment(environments):
    return next(e for e in environments if e.default)


def find_environment(environments, name):
    """The environment called `name`; UnknownEnvironment lists the valid names."""
    for environment in environments:
        if environment.name == name:
            return environment
    raise UnknownEnvironment(
        f"unknown environment {name!r}; this hub offers: {', '.join(e.name for e in environments)}"
    )


def check_choice(environments, value):
    """A person's choice of environment (from the API) as its name."""
    if not isinstance(value, str):
        raise UnknownEnvironment(
            f"environment must be the name of one of: {', '.join(e.name for e in environments)}"
        )
    return find_environment(environments, value).name


def effective_environment(environments, name):
    """The environment to start with for a stored choice: the default for none, and
    for one the admin has since removed from the config (refused, with what to do)."""
    if name is None:
        return default_environment(environments)
    try:
        return find_environment(environments, name)
    except UnknownEnvironment as e:
        raise UnknownEnvironment(
            f"this project's environment {name!r} is no longer offered by the hub; "
            f"choose another in its settings ({e})"
        ) from None


# --- pins -----------------------------------------------------------------------------


def set_environment(holder, name):
    """Choose environment `name` for a project or course (the holder), dropping its pin."""
    holder.environment = name
    clear_pin(holder)


def clear_pin(holder):
    holder.image_digest = None
    holder.image_source = None
    holder.image_kind = None


def current_pin(holder, kind):
    """The image reference `holder` is pinned to on nodes of `kind`, or None.

    A pin is made on one kind of node: a project moved to another kind (from Docker to
    Kubernetes, say) resolves its environment's image again there.
    """
    if holder.image_digest and holder.image_kind == kind:
        return holder.image_digest
    return None


def record_pin(holder, kind, source, digest):
    holder.image_digest = digest
    holder.image_source = source
    holder.image_kind = kind


def missing_pin_message(environment, node, digest, source, course=False):
    """Why a project cannot start when its pinned image is gone, and what to do."""
    whose = "its course's" if course else "this project's"
    fix = (
        "ask an instructor of the course to choose the environment again in the "
        "course's settings, or ask the hub's admin to restore the image"
        if course
        else "switch the project to another environment (or choose "
        f"{environment!r} again to take its current image) in the project's settings, "
        "or ask the hub's admin to restore the image"
    )
    return (
        f"{whose.capitalize()} environment {environment!r} is pinned to image {digest} "
        f"(from {source}), which node {node} no longer has: {fix}."
    )


# --- which record holds a project's environment ---------------------------------------


def environment_holder(db, project):
    """(holder, course) for `project`: the course of a student's course project (whose
    environment and pin the student project takes), else the project itself."""
    # course_policy imports this module for the courses' settings
    from .course_policy import course_place

    place = course_place(db, project.id)
    if place is not None:
        return place.course, place.course
    return project, None


def course_environments(db, project_ids):
    """{project id: its course's environment name (None: the default)} for those of
    `project_ids` that are students' projects in a live course, in one query."""
    if not project_ids:
        return {}
    rows = (
        db.query(orm.CourseStudent.project_id, orm.Course.environment)
        .join(orm.Course, orm.Course.id == orm.CourseStudent.course_id)
        .join(orm.Project, orm.Project.id == orm.Course.project_id)
        .filter(
            orm.CourseStudent.project_id.in_(list(project_ids)),
            orm.CourseStudent.removed.isnot(True),
            orm.Course.deleted.isnot(True),
            orm.Project.deleted.isnot(True),
        )
    )
    return dict(rows)


def environment_model(project, from_courses, running, default_name, admin=False):
    """A project's environment fields in its JSON form.

    `environment` is what its next start runs (its course's, for a student's course
    project: `environment_from_course`), `running_environment` what its running server
    started with (null when stopped): when they differ, a restart takes the new one.
    `from_courses` is course_environments() for the projects being shown.
    """
    from_course = project.id in from_courses
    chosen = from_courses[project.id] if from_course else project.environment
    model = {
        "environment": chosen or default_name,
        "environment_from_course": from_course,
        "running_environment": running,
    }
    if admin:
        pinned = project.image_digest is not None
        model["environment_pin"] = (
            {"image": project.image_digest, "from": project.image_source,
             "node_kind": project.image_kind} if pinned else None
        )  # fmt: skip
    return model
