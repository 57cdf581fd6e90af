"""Models for ``benchmarks/tracking.py``: one table, one model class per variant.

Every variant maps the same ten columns of the same table, so each one loads
exactly the same rows; only the change-tracking machinery differs.
"""
