import os
import sys

from grader.cli import main

code = main()
# Everything is written and closed by now; tearing down PyTorch's and matplotlib's modules would only
# add ~0.6 s to every run. An exception above still takes the normal way out, with its traceback.
sys.stdout.flush()
sys.stderr.flush()
os._exit(int(code or 0))
