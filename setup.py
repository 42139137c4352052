"""Setup shim: lists every package under the smchub namespace explicitly.

spawners/, authenticators/ and extensions/ sit at the top of the repository but are
installed as smchub.spawners, smchub.authenticators and smchub.extensions
(package_dir in setup.cfg). find_packages() cannot see through that mapping, so the
package list is computed here from the same map: every folder holding Python files is
a package. share/ is installed as data files into the environment's prefix
(share/smchub), where smchub/_data.py finds it.
"""

import os

from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))

PACKAGE_ROOTS = {
    "smchub": "smchub",
    "smchub.spawners": "spawners",
    "smchub.authenticators": "authenticators",
    "smchub.extensions": "extensions",
}


def namespace_packages():
    packages = []
    for name, folder in PACKAGE_ROOTS.items():
        root = os.path.join(here, folder)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            # alembic's folders hold modules without __init__.py; they are packages too
            if not any(f.endswith(".py") for f in filenames):
                continue
            rel = os.path.relpath(dirpath, root)
            if rel == ".":
                packages.append(name)
            else:
                packages.append(name + "." + rel.replace(os.sep, "."))
    return sorted(set(packages))


def share_data_files():
    files = []
    for dirpath, _, filenames in os.walk(os.path.join(here, "share", "smchub")):
        if not filenames:
            continue
        rel = os.path.relpath(dirpath, here)
        files.append((rel, [os.path.join(rel, f) for f in filenames]))
    return files


setup(packages=namespace_packages(), data_files=share_data_files())
