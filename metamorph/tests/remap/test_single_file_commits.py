"""An online batch commits Metamorph's file alone: no super-journal (`<db>-mjXXXXXXXX`) is
ever created beside it, for a run or an undo. A transaction that writes (or merely holds in
write mode, as BEGIN IMMEDIATE does) two attached files commits through one: three more fsyncs
and a directory sync inside the lock Metamorph waits for. Seen by the kernel (inotify), so
every file created in the folder is counted, however short-lived."""

import ctypes
import ctypes.util
import os
import struct

import pytest

from metamorph.remap import MoveVault, build_plan, execute_plan, undo_plan

IN_CREATE = 0x100
IN_NONBLOCK = 0o4000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class CreatedFiles:
    """Names of the files created in `folder` while watched."""

    def __init__(self, folder):
        self.fd = _libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0 or _libc.inotify_add_watch(self.fd, str(folder).encode(), IN_CREATE) < 0:
            pytest.skip("inotify is not available here")

    def names(self):
        out = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i < len(data):
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, i)
                out.append(data[i + 16 : i + 16 + length].rstrip(b"\0").decode())
                i += 16 + length

    def close(self):
        os.close(self.fd)


def test_online_batches_and_undo_batches_commit_without_a_super_journal(metamorph_db, tmp_path):
    db = metamorph_db("migrated", sessions=150, vaults=1)
    plan = build_plan(db, MoveVault("user-alice"))
    journal = str(tmp_path / "journal.sqlite3")
    watch = CreatedFiles(os.path.dirname(db))
    try:
        result = execute_plan(db, plan, journal, batch_rows=200)
        undone = undo_plan(db, plan.plan_id, journal, batch_rows=200)
        created = watch.names()
    finally:
        watch.close()
    assert result["batches"] > 5 and undone["batches"] > 5
    base = os.path.basename(db)
    journals = [n for n in created if n == base + "-journal"]
    assert len(journals) >= result["batches"], created[:20]  # the watch saw the commits
    assert [n for n in created if n.startswith(base + "-mj")] == []
