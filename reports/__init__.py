"""What people read: the end-of-run summary, the HTML run, sweep and comparison reports."""

from reports.summary import render_summary

__all__ = ["render_summary"]
