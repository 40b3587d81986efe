"""Intake: what the instructor hands in (a folder, a zip, a class, nbgrader's collected work) as
``Submission``s.

Nothing here runs a learner's code. Every byte a learner controls is read with a bound
(``bounded_parse``), and what goes wrong with one entry stays in that entry's ``problems`` or notes
(``confined``), never stops the class.
"""
