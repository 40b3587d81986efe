"""The sandbox, seen from the grader: the runner that owns the fork server, sessions, their channels and
limits.

Learner code never runs in the grader's process. What runs beside it lives in ``harness/`` and nothing
else; the checks talk to a session only through ``client.Learner``.
"""
