"""Building tar archives for tests, member by member."""

import io
import tarfile


def tar_bytes(members, compression=None):
    """A tar archive from (TarInfo, data or None) pairs; sizes are filled in."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compression == "gz" else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def member(name, kind=tarfile.REGTYPE, linkname="", mode=0o644):
    """A TarInfo of the given type."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    return info
