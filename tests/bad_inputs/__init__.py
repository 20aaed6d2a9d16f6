"""Bad and awkward inputs, each with what the ``harness`` command must do with it (see ``corpus.py``)."""
