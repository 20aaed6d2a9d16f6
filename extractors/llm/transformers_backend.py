"""The ``transformers`` extractor: a chat model served by Hugging Face transformers (``generate``).

The fallback model backend where vLLM is absent (and the reference its results are checked against).
Prompt, schema, parsing, evidence alignment and accounting are shared with the other model backends
(``extractors.llm.chat_model``); this module only loads and runs the model.

Prompts are sorted by length and run in batches of ``batch_size`` (left padding), greedy when
``temperature`` is 0; a failing batch is retried one by one. Generation is not grammar-constrained
here: the schema is in the prompt and the output is validated, so ``schema_valid`` measures what the
model really produced. ``close`` frees the model and the CUDA cache: a later job of the same process (a sweep
``extractor=transformers,vllm``) gets the device's memory back.

torch and transformers are imported on first use, so building the extractor (config check) is instant.
"""

from __future__ import annotations

import gc
import time
from typing import Any, Literal

from extractors.llm import engine_pool
from extractors.llm.chat_model import ChatModelConfig, ChatModelExtractor, ChatRequest
from harness.registry import EXTRACTORS


class TransformersConfig(ChatModelConfig):
    """Settings of the transformers extractor (``conf/extractor/transformers.yaml``); text prompts only."""

    name: Literal["transformers"] = "transformers"
    """Registry name of the extractor."""


@EXTRACTORS.register("transformers")
class TransformersExtractor(ChatModelExtractor):
    name = "transformers"
    version = "1"
    config_model = TransformersConfig
    config: TransformersConfig
    retries_singly = True

    def load(self) -> None:
        """Prepare (if needed) and load the model and tokenizer; called by the first ``extract``."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from extractors.llm.weights import model_path, model_revision

        engine_pool.shutdown()  # one model per device: a vLLM engine an earlier job of this process left loaded goes
        path = model_path(self.config.model)
        device = engine_pool.torch_device(self.config.device)
        tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.chat_template is None:
            raise ValueError(f"model {self.config.model!r} has no chat template")
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, self.config.dtype)).to(device).eval()
        eos = model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self._eos.add(tokenizer.eos_token_id)
        self._model, self._tokenizer, self._device = model, tokenizer, device
        self._revision = model_revision(path)
        self.log.info("transformers: %s (%s) on %s", self.model_id, self.model_revision, device)

    def _unload(self) -> None:
        """Free the model now: its last references go, then the CUDA cache (so a later job's engine gets the memory)."""
        import torch

        self._model = self._tokenizer = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _tokenize(self, request: ChatRequest) -> None:
        prompt = self._tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        request.input_ids = self._tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def _batches(self, pending: list[ChatRequest]) -> list[list[ChatRequest]]:
        """Length-sorted batches of ``batch_size`` prompts (the least padding)."""
        ordered = sorted(pending, key=lambda r: len(r.input_ids))
        size = self.config.batch_size
        return [ordered[first : first + size] for first in range(0, len(ordered), size)]

    def _generate(self, batch: list[ChatRequest]) -> None:
        """One left-padded ``generate`` call; fills raw output, token counts and latency of each request."""
        import torch

        tokenizer, model = self._tokenizer, self._model
        pad = tokenizer.pad_token_id
        width = max(len(r.input_ids) for r in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            n = len(request.input_ids)
            ids[row, width - n :] = torch.tensor(request.input_ids, dtype=torch.long)
            mask[row, width - n :] = 1
        sampling: dict[str, Any] = {"do_sample": False}
        if self.config.temperature > 0:
            torch.manual_seed(self.config.seed)
            sampling = {"do_sample": True, "temperature": self.config.temperature}
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(self._device),
                attention_mask=mask.to(self._device),
                max_new_tokens=self.config.max_new_tokens,
                pad_token_id=pad,
                eos_token_id=sorted(self._eos) or None,
                **sampling,
            )
        elapsed = time.perf_counter() - started
        new = out[:, width:].tolist()
        for request, tokens in zip(batch, new, strict=True):
            stop = next((i for i, t in enumerate(tokens) if t in self._eos), None)
            kept = tokens if stop is None else tokens[:stop]
            request.output_tokens = len(tokens) if stop is None else stop + 1
            request.truncated = stop is None and len(tokens) >= self.config.max_new_tokens
            request.raw = tokenizer.decode(kept, skip_special_tokens=True)
            request.input_tokens = len(request.input_ids)
            request.latency_s = elapsed / len(batch)  # the batch's wall time, shared: latencies sum to wall time
