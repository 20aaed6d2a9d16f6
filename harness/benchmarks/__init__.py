"""Throughput benchmarks that print a table of ratios measured side by side: ``harness bench pages`` (render,
degrade, OCR against bare tesseract) and ``harness bench llm`` (the raw vLLM engine against the harness).
"""
