import os
import signal
import sys

from grader.cli import main


def _stop(signum, frame):
    # SIGTERM and SIGHUP end the run the orderly way, as Ctrl-C does: every sandbox is killed and every
    # scratch folder (unpacked learner code included) removed on the way out.
    raise SystemExit(128 + signum)


for _signal in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_signal, _stop)
code = main()
# Everything is written and closed by now; tearing down PyTorch's and matplotlib's modules would only
# add ~0.6 s to every run. An exception above still takes the normal way out, with its traceback.
sys.stdout.flush()
sys.stderr.flush()
os._exit(int(code or 0))
