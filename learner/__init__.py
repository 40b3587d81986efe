"""The learner's tools for the Lesson 13 kit: hints, watch mode and "show me" pictures.

``python -m learner hint`` asks the next question for the first exercise that fails its visible
checks, ``python -m learner watch`` runs the visible tests on every save, and ``python -m learner
show masking`` draws your attention weights beside the expected ones. These tools ship with the
learner kit; they read ``exercises/`` and never import the grader or the reference solutions.
"""
