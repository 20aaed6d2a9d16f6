"""Throughput benchmark of model-served extraction: a raw client against the harness, one engine or server.

    harness bench llm --dataset codiesp_en --limit 8 --repeats 2
    harness bench llm --dataset codiesp_en --limit 8 --extractor openai_server    # the OpenAI server path

Both sides send the same prompts (the harness's, chunked as it chunks them) with the same sampling settings and
structured-output schema to the same engine instance. With ``--extractor vllm`` (the default), ``raw`` is the bare
``vllm.LLM.chat`` call in this process and ``harness`` is ``VllmExtractor.extract``. With ``--extractor
openai_server``, both talk to the same server (the local vLLM server the extractor starts, or its ``url``): ``raw`` is
the ``openai`` package's async client sending every prompt at once, ``max_concurrency`` in flight, and ``harness`` is
``OpenAIServerExtractor.extract``. The harness side adds prompt building, parsing, schema validation and evidence
alignment. Rounds alternate raw, harness, raw, ... after one warm-up call, and the best round of each side is
reported, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from harness.errors import USAGE_ERROR

Measure = Callable[[], tuple[float, int, int]]
"""One round of a side: its seconds, input tokens and output tokens."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench llm", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="codiesp_en", help="dataset option (conf/dataset/)")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=8, help="charts per round")
    parser.add_argument("--repeats", type=int, default=2, help="rounds per side")
    parser.add_argument("--extractor", default="vllm",
                        help="extractor option (conf/extractor/) of the vllm or openai_server extractor")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an extractor field (YAML value), e.g. --set max_new_tokens=256")
    args = parser.parse_args(argv)

    import yaml
    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

    from extractors.llm.openai_server import OpenAIServerExtractor
    from extractors.llm.vllm_backend import VllmExtractor
    from harness.config import DatasetConfig, config_option
    from harness.registry import EXTRACTORS
    from harness.sources import load_charts

    try:
        settings = config_option("extractor", args.extractor)
    except FileNotFoundError as error:
        return _usage_error(f"--extractor {args.extractor}: {error}")
    for item in args.set:
        field, _, value = item.partition("=")
        settings[field] = yaml.safe_load(value)
    backend = EXTRACTORS.resolve(settings.get("name", args.extractor))
    if backend not in (VllmExtractor, OpenAIServerExtractor):
        return _usage_error(f"--extractor {args.extractor}: a {backend.name} extractor; this bench measures the vllm "
                            "and openai_server extractors")
    try:
        extractor = backend(settings)
    except ValidationError as error:
        return _usage_error("--set: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()))
    dataset = DatasetConfig.model_validate(config_option("dataset", args.dataset)
                                           | {"split": args.split, "limit": args.limit, "data_dir": None})
    charts = [chart.model_copy(update={"gold": []}) for chart in load_charts(dataset)]
    try:
        extractor.load()
        messages = [request.messages for index, chart in enumerate(charts) for request in extractor._requests(index, chart)]
        raw_label, raw, title = (_raw_engine(extractor, messages) if backend is VllmExtractor
                                 else _raw_client(extractor, messages))

        def harness() -> tuple[float, int, int]:
            started = time.perf_counter()
            extractions = extractor.extract(charts)
            seconds = time.perf_counter() - started
            return seconds, sum(e.input_tokens for e in extractions), sum(e.output_tokens for e in extractions)

        harness_label = f"harness ({backend.__name__}.extract)"
        rounds: dict[str, list[tuple[float, int, int]]] = {raw_label: [], harness_label: []}
        for _ in range(args.repeats):
            rounds[raw_label].append(raw())
            rounds[harness_label].append(harness())
    finally:
        extractor.close()

    table = Table(title=f"{title}: {len(charts)} charts ({len(messages)} prompts) of {args.dataset}/{args.split}, "
                        f"best of {args.repeats}", title_justify="left")
    for column in ("path", "seconds", "charts/s", "input tok/s", "output tok/s"):
        table.add_column(column, justify="left" if column == "path" else "right")
    best = {}
    for path, measured in rounds.items():
        seconds, tokens_in, tokens_out = best[path] = min(measured)
        table.add_row(path, f"{seconds:.2f}", f"{len(charts) / seconds:.3f}", f"{tokens_in / seconds:.1f}",
                      f"{tokens_out / seconds:.1f}")
    console = Console(width=120)
    console.print(table)
    (raw_s, _, raw_out), (harness_s, _, harness_out) = best.values()
    console.print(f"harness / raw {'engine' if backend is VllmExtractor else 'client'}: {raw_s / harness_s:.3f} of the "
                  f"raw charts per second (output tokens raw {raw_out}, harness {harness_out})", highlight=False)
    return 0


def _usage_error(message: str) -> int:
    """Bad options: one ``error:`` line, the usage-error status."""
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def _raw_engine(extractor: Any, messages: list[list[dict[str, Any]]]) -> tuple[str, Measure, str]:
    """The bare ``LLM.chat`` over the extractor's loaded engine (after a warm-up call)."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    cfg = extractor.config
    params = SamplingParams(max_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed,
                            structured_outputs=StructuredOutputsParams(json=extractor.schema))

    def raw() -> tuple[float, int, int]:
        started = time.perf_counter()
        outputs = extractor._model.chat(messages, params, use_tqdm=False)
        seconds = time.perf_counter() - started
        return seconds, sum(len(o.prompt_token_ids or []) for o in outputs), sum(len(o.outputs[0].token_ids) for o in outputs)

    extractor._model.chat(messages[:1], params, use_tqdm=False)  # warm-up: first-call compilation and caches
    return "raw LLM.chat", raw, "vLLM extraction"


def _raw_client(extractor: Any, messages: list[list[dict[str, Any]]]) -> tuple[str, Measure, str]:
    """The ``openai`` async client sending every prompt at once to the extractor's server, ``max_concurrency`` in flight,
    with the extractor's request settings (after a warm-up request)."""
    import asyncio

    from openai import AsyncOpenAI

    cfg = extractor.config
    request = {"model": extractor.served_model, "max_tokens": cfg.max_new_tokens, "temperature": cfg.temperature,
               "seed": cfg.seed,
               "response_format": {"type": "json_schema", "json_schema": {"name": "findings", "schema": extractor.schema}}}

    async def send_all(prompts: list[list[dict[str, Any]]]) -> list[Any]:
        async with AsyncOpenAI(base_url=extractor.base_url, api_key=cfg.api_key, timeout=cfg.timeout_s) as client:
            slots = asyncio.Semaphore(cfg.max_concurrency)

            async def send(prompt: list[dict[str, Any]]) -> Any:
                async with slots:
                    return await client.chat.completions.create(messages=prompt, **request)

            return await asyncio.gather(*(send(prompt) for prompt in prompts))

    def raw() -> tuple[float, int, int]:
        started = time.perf_counter()
        answers = asyncio.run(send_all(messages))
        seconds = time.perf_counter() - started
        return seconds, sum(a.usage.prompt_tokens for a in answers), sum(a.usage.completion_tokens for a in answers)

    asyncio.run(send_all(messages[:1]))  # warm-up: first-request compilation and caches
    return "raw OpenAI client", raw, f"OpenAI server extraction ({extractor.base_url})"


if __name__ == "__main__":
    sys.exit(main())
