"""Where a project keeps the edit history of its documents (JupyterLab's document timeline).

jupyter-collaboration records every change to a shared document in a YStore, under the
document's file id, and replays it when someone opens the timeline in the status bar,
slides back and restores a version. Two of its defaults do not suit a project:

- the store is `.jupyter_ystore.db` in the server's working folder, the home's top level,
  beside the person's own files;
- file ids are recorded against absolute paths, and a project that moves to a node keeping
  homes elsewhere (another local node's folder, /home/user in a container) would find
  none of them again: every document would start a new, empty history.

So the store lives in the home's hidden data folder and file ids are kept relative to the
home. Both are in the home, so history survives stops and starts, moves and snapshots
(all of which keep the whole home) without being one of the person's files.
"""

import asyncio
import os
from typing import ClassVar

import anyio
from jupyter_server_fileid.manager import ArbitraryFileIdManager
from jupyter_server_ydoc.stores import SQLiteYStore
from traitlets import default, validate

HISTORY_PATH = "~/.local/share/smchub/edit-history.db"
# where jupyter-collaboration kept it by default (its working folder is the home)
DEFAULT_STORE_PATH = "~/.jupyter_ystore.db"


class EditHistoryStore(SQLiteYStore):
    """jupyter-collaboration's SQLite YStore, kept in the project's hidden data folder.

    History is never squashed by default (jupyter-collaboration's `document_ttl` and
    `squash_after_inactivity_of` stay unset): the timeline goes back to a document's first
    recorded version. Set `c.EditHistoryStore.squash_after_inactivity_of` to trade history
    for disk space.
    """

    # one store per open document, all in one database: one prepares its folder at a time
    _preparing: ClassVar[asyncio.Lock] = asyncio.Lock()

    @default("db_path")
    def _default_db_path(self):
        return os.path.expanduser(HISTORY_PATH)

    @validate("db_path")
    def _expand_home(self, proposal):
        # read from the server's environment, whatever the node: a local project's HOME
        # is its home on the node, a container's is /home/user on the home's volume
        return os.path.expanduser(proposal["value"])

    async def start(self, **kwargs):
        async with self._preparing:
            await self._prepare_folder()
        await super().start(**kwargs)

    async def _prepare_folder(self):
        store = anyio.Path(self.db_path)
        # a new home has no such folder; it is the project's own, like the Jupyter data
        # folder beside it
        await store.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        earlier = anyio.Path(os.path.expanduser(DEFAULT_STORE_PATH))
        if not await store.exists() and await earlier.is_file():
            # history recorded before the store moved here
            await earlier.rename(store)
            self.log.info("Moved the edit history from %s to %s", earlier, store)


class HomeFileIdManager(ArbitraryFileIdManager):
    """jupyter_server_fileid's default manager, with paths recorded relative to the home.

    A document's file id names its edit history, so the id must survive the home moving
    to another absolute path.
    """

    def __init__(self, *args, root_dir=None, **kwargs):
        # with no root, the API paths it is given (relative to the home) are what it keeps
        super().__init__(*args, root_dir="", **kwargs)
        if root_dir:
            self._adopt_absolute_paths(root_dir)

    def _adopt_absolute_paths(self, root_dir):
        """Keep the ids recorded under this home's absolute path (by the default manager,
        before), rather than give those documents new ids and empty histories."""
        prefix = root_dir.rstrip("/") + "/"
        with self.con:
            self.con.execute(
                "UPDATE OR IGNORE Files SET path = substr(path, ?) WHERE substr(path, 1, ?) = ?",
                (len(prefix) + 1, len(prefix), prefix),
            )
