"""Every metric of a run, registered once in ``registry`` (label, unit, direction, interval, group, whether it
measures the machine), computed by the module of its concern: ``coding``, ``review``, ``evidence``, ``extraction``,
``robustness``, ``trust``; ``decorated_metrics`` computes those registered at their function with
``registry.metric`` (plugins' included); ``bootstrap`` and ``paired_stats`` give the intervals and the paired
comparisons the gate decides on.

Nothing is re-exported here, so reading the registry does not load NumPy.
"""
