"""Evaluation harness for medical coding automation. Kept import-free so ``python -m harness --help`` is instant."""

__version__ = "0.1.0"
