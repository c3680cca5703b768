"""Operator chores: `effigies backup` and `effigies restore` (docs/operations.md).

* pgtools.py — which pg_dump / pg_restore / psql to run, and how to hand them the connection
* archive.py — the backup file: a plain tar of database.dump, data/… and manifest.json
* backup.py  — one consistent snapshot of the database, then the files its rows point at
* restore.py — verify everything, then replace the database in one transaction, then the files
"""
