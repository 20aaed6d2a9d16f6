"""What people read: the end-of-run summary (HTML reports come later)."""

from reports.summary import render_summary

__all__ = ["render_summary"]
