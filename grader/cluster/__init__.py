"""Grading a class across a Dask cluster (``python -m grader grade CLASS --out DIR --dask ADDRESS``).

The driver (``driver.py``) keeps everything a single-machine run does — the to-do list from the
records, each record written atomically as its result arrives, the progress bar, the reports — and
hands each submission to the cluster as one task: its module files as bytes in, its result as JSON
text out (``parcel.py``). Each worker holds one fork server in a worker plugin (``worker.py``) that
serves nothing until every sandbox protection is active on its node. The driver never unpickles a
result: it parses the text and checks it against the lesson's contract (``verdict.py``).

Dask is an optional extra (``pip install -e ".[cluster]"``): nothing here is imported on the
single-machine path.
"""
