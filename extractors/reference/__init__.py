"""The ``reference`` extractor for CodiEsp: a learned coder (``model``, with ``settings``) over a span lexicon,
n-gram retrieval and chart classifiers, saved as versioned artifacts (``artifact``) by ``harness fit`` (``fit``).
"""
