"""Which file a path names: one file under two names (a symlink, a bind mount,
`./x/../metamorph.db`) is one database for every rule that compares databases."""

import os


def file_identity(path):
    """(device, inode) of an existing file, else its real path (a file not created yet)."""
    try:
        st = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", st.st_dev, st.st_ino)


def same_file(a, b):
    """Whether two paths name the same file (same device and inode, else same real path)."""
    return file_identity(a) == file_identity(b) or os.path.realpath(a) == os.path.realpath(b)
