"""Fixtures shared by every test: real Metamorph files built by makedemodb's builder."""

import os
import shutil
import sqlite3

import pytest

from metamorph.demo import build_demo_database

pytest_plugins = ["metamorph.testing.fixtures"]


@pytest.fixture(scope="session")
def _built(tmp_path_factory):
    cache = {}
    root = tmp_path_factory.mktemp("metamorph-dbs")

    def get(state, sessions, vaults, optional_tables, session_states, shape):
        key = (state, sessions, vaults, optional_tables, session_states, shape)
        if key not in cache:
            path = root / ("-".join(str(k) for k in key) + ".db")
            build_demo_database(
                str(path),
                sessions=sessions,
                vaults=vaults,
                state=state,
                optional_tables=optional_tables,
                session_states=session_states,
                shape=shape,
            )
            cache[key] = path
        return cache[key]

    return get


@pytest.fixture
def metamorph_db(_built, tmp_path):
    """make(state="legacy", sessions=60, vaults=6, ..., shape="linked") -> a private copy."""

    def make(
        state="legacy",
        sessions=60,
        vaults=6,
        optional_tables=False,
        session_states=True,
        shape="linked",
    ):
        source = _built(state, sessions, vaults, optional_tables, session_states, shape)
        target = tmp_path / f"{state}-{len(os.listdir(tmp_path))}.db"
        shutil.copyfile(source, target)
        return str(target)

    return make


def sql(path, query, params=()):
    """Ask the file directly: what the tests compare our pages and reports against."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()
