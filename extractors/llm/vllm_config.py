"""The ``vllm`` extractor's settings (``VllmConfig``) and the engine they describe: the ``LLM(...)`` arguments, the
device vLLM runs on, and whether the engine runs batch-invariant. Kept apart from the extractor so the local server
(``extractors.llm.local_server``) starts the same engine from the same settings without loading the offline one."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import Field

from extractors.llm.chat_model import ChatModelConfig

GIB = 1 << 30
BATCH_INVARIANT_ENV = "VLLM_BATCH_INVARIANT"
"""vLLM's switch for its batch-invariant kernels (read from the environment by the engine's processes at start)."""
_AMBIENT_BATCH_INVARIANT = os.environ.get(BATCH_INVARIANT_ENV, "0").strip() not in ("", "0")
"""Whether the process was started with batch invariance on (then every engine runs with it)."""


class VllmConfig(ChatModelConfig):
    """vLLM offline-engine settings on top of the shared prompt and decoding settings."""

    reads_page_images: ClassVar[bool] = True

    name: Literal["vllm"] = "vllm"
    """Registry name."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    """GPUs a model is sharded over (``LLM(tensor_parallel_size=...)``)."""
    data_parallel_size: int = Field(default=1, ge=1)
    """Engine replicas: above 1, one engine process per rank, each on its own ``tensor_parallel_size`` GPUs (or share
    of CPU cores), charts dealt to the least busy rank (``extractors.llm.data_parallel``)."""
    max_model_len: int = Field(default=4096, ge=256)
    """Longest prompt plus output, in tokens."""
    enforce_eager: bool | Literal["auto"] = "auto"
    """Skip graph compilation and CUDA graphs. ``auto``: eager on CPU (vLLM recompiles at every start there, about
    50 s; eager starts in about 25 s), CUDA graphs on GPUs (slower start, faster decoding)."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    """Share of GPU memory vLLM may take (ignored on CPU)."""
    cpu_kvcache_gib: float = Field(default=1, gt=0)
    """KV-cache size on CPU, in GiB (``kv_cache_memory_bytes``; a ``VLLM_CPU_KVCACHE_SPACE`` set in the environment
    wins); small keeps tests light. Ignored on GPUs, where ``gpu_memory_utilization`` sizes the cache."""
    batch_invariant: bool = False
    """Start the engine in vLLM's batch-invariant mode (``VLLM_BATCH_INVARIANT=1``; beta, recent NVIDIA GPUs): the same
    prompt gives the same output whatever else is batched with it. Also on when the process was started with it."""
    max_num_seqs: int | None = Field(default=None, ge=1)
    """Most sequences in flight at once (``LLM(max_num_seqs=...)``); None keeps vLLM's default for the device."""
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    """Most tokens per engine step (``LLM(max_num_batched_tokens=...)``); None keeps vLLM's default."""
    limit_mm_per_prompt: dict[str, int] | None = None
    """Most images (etc.) per prompt for a VLM, e.g. ``{image: 4}`` (``LLM(limit_mm_per_prompt=...)``); None for text models."""


STRUCTURED_OUTPUTS = {"backend": "xgrammar", "disable_any_whitespace": True}
"""Structured decoding: compact JSON (a small model otherwise pads with whitespace until ``max_tokens``)."""


def resolve_enforce_eager(setting: bool | Literal["auto"], device: str) -> bool:
    """``enforce_eager`` for ``device`` (``cpu``, ``cuda``, ...): an explicit bool as given; ``auto`` is eager everywhere
    but on CUDA, where CUDA graphs pay for their capture time."""
    if isinstance(setting, bool):
        return setting
    return device != "cuda"


def batch_invariant(cfg: VllmConfig) -> bool:
    """Whether the engine runs in vLLM's batch-invariant mode: asked for, or set in the environment the process began with."""
    return cfg.batch_invariant or _AMBIENT_BATCH_INVARIANT


def engine_device() -> str:
    """Where vLLM runs: ``cpu`` (the vllm-cpu build, or no GPU), ``cuda`` (NVIDIA or ROCm GPUs) or vLLM's device type."""
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        return "cpu"
    if current_platform.is_cuda_alike():
        return "cuda"
    return str(current_platform.device_type or "cpu")


def device_label(device: str) -> str:
    """``cpu``, or ``cuda (<GPU name>)`` (read through NVML by vLLM's platform: no CUDA context in this process)."""
    if device != "cuda":
        return device
    try:
        from vllm.platforms import current_platform

        return f"cuda ({current_platform.get_device_name(0)})"
    except Exception:  # noqa: BLE001 - a label only
        return device


def engine_args(cfg: VllmConfig, model: str, device: str) -> dict[str, Any]:
    """The ``LLM(...)`` arguments: every setting that changes the engine (so, with the weights' revision, its pool key)."""
    args: dict[str, Any] = {
        "model": model,
        "dtype": cfg.dtype,
        "seed": cfg.seed,
        "max_model_len": cfg.max_model_len,
        "enforce_eager": resolve_enforce_eager(cfg.enforce_eager, device),
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "data_parallel_size": cfg.data_parallel_size,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "generation_config": "vllm",
        "structured_outputs_config": STRUCTURED_OUTPUTS,
    }
    if device == "cpu":
        args["kv_cache_memory_bytes"] = int(cfg.cpu_kvcache_gib * GIB)
    optional = {"max_num_seqs": cfg.max_num_seqs, "max_num_batched_tokens": cfg.max_num_batched_tokens,
                "limit_mm_per_prompt": cfg.limit_mm_per_prompt}
    args.update({name: value for name, value in optional.items() if value})
    return args
