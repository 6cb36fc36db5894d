"""Plain-Python knowledge of, and access to, a Metamorph SQLite database.

Nothing in this package imports Django: commands, tasks, views and tests all use it
on a bare sqlite3 file.
"""
