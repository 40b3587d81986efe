"""What runs beside the learner's code, and nothing else: the fork server, confinement, the wire and the
tasks.

The fork server imports a copy of this folder as its own package: its modules import only the
standard library, PyTorch, NumPy and each other (relatively), never the rest of the grader
(``tests/test_layout.py`` walks their imports to keep it so).
"""
