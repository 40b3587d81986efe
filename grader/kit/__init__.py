"""Building what learners get from the reference: the stubs, the nbgrader notebook and its kernel runtime, the
kit."""
