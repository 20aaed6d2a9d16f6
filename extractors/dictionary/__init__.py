"""The ``dictionary`` extractor: ICD-10-CM terms and a learned lexicon matched in the text (``term_matching``),
with ConText-style assertions (``assertion``); no model.
"""
