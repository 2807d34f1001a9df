"""Helpers for the burnout DAGs: submit Ray jobs and talk to the serving app over HTTP.

Imported only inside tasks, so parsing a DAG file stays cheap. Nothing here imports ray.
"""
