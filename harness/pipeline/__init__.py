"""The run of one pipeline design over charts: prepare (degrade + intake), extract (cached), code, edit, route.

``streaming.run_pipeline`` is the entry point: it schedules the per-chart steps of ``chart_steps``;
``preparation`` turns a source chart into what the extractor reads; ``extraction_cache`` lets a rules-only
re-run skip the model. Modules are imported where used.
"""
