"""The hidden grader and the instructor's tools for the Lesson 13 kit (``python -m grader``)."""
