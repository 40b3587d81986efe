"""Gradebooks back into the LMS: ``python -m grader export canvas|moodle`` turns a grading output (DIR)
into the file that LMS imports, matching learners on the id the LMS export gave them and nothing else.

``graded.py`` reads DIR/results.json; ``csv_files.py`` reads and writes the LMS's CSV files; ``points.py``
scales and writes grades; ``matching.py`` pairs rows with results and says how it went; ``canvas.py`` and
``moodle.py`` are the two commands, ``comments.py`` the Moodle feedback comment and ``feedback_zip.py``
Moodle's feedback zip; ``arguments.py`` is their command line.
"""
