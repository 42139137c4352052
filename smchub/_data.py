"""Locate smchub's data files (templates and static assets).

share/smchub is installed as data files into the environment's prefix by a wheel, and
sits at the top of the repository in an editable install; look in both, as
jupyterhub/_data.py does.
"""

import os
import sys


def _find_share_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    starting_points = [here, sys.prefix]
    for path in starting_points:
        while True:
            candidate = os.path.join(path, "share", "smchub")
            if os.path.isdir(os.path.join(candidate, "templates")):
                return candidate
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return ""


DATA_FILES_PATH = _find_share_dir()
