"""From a chart to what the extractor reads when pages are involved: typeset pages (``render``), damage them
(``degrade``), read them back with OCR (``ocr``), and map OCR text back to source offsets (``source_offsets``).
"""
