"""Model-served extractors: one chat-model base (``chat_model``) with the prompt, parsing and evidence alignment,
and a backend per engine that only loads and generates: ``transformers_backend``, ``vllm_backend``,
``openai_server``. ``weights`` prepares local model folders (``harness models``).
"""
