"""Every metric of a run, registered once in ``registry`` (label, unit, direction, interval, group), computed
by the module of its concern: ``coding``, ``review``, ``evidence``, ``extraction``, ``robustness``, ``trust``;
``bootstrap`` and ``paired_stats`` give the intervals and the paired comparisons the gate decides on.

Nothing is re-exported here, so reading the registry does not load NumPy.
"""
