"""Throughput benchmark of model-served extraction: raw ``vllm.LLM.chat`` against the harness, one engine.

    harness bench llm --dataset codiesp_en --limit 8 --repeats 2

Both sides send the same prompts (the harness's, chunked as it chunks them) with the same sampling
settings and structured-output schema to the same engine instance in one process. ``raw`` is the bare
``LLM.chat`` call; ``harness`` is ``VllmExtractor.extract``: prompt building, the engine call, parsing,
schema validation and evidence alignment. Rounds alternate raw, harness, raw, ... after one warm-up
call, and the best round of each side is reported, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench llm", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="codiesp_en", help="dataset option (conf/dataset/)")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=8, help="charts per round")
    parser.add_argument("--repeats", type=int, default=2, help="rounds per side")
    parser.add_argument("--extractor", default="vllm", help="vLLM extractor option (conf/extractor/)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an extractor field (YAML value), e.g. --set max_new_tokens=256")
    args = parser.parse_args(argv)

    import yaml
    from rich.console import Console
    from rich.table import Table

    from extractors.llm.vllm_backend import VllmExtractor
    from harness.config import DatasetConfig, config_option
    from harness.sources import load_charts

    settings = config_option("extractor", args.extractor)
    for item in args.set:
        field, _, value = item.partition("=")
        settings[field] = yaml.safe_load(value)
    extractor = VllmExtractor(settings)
    dataset = DatasetConfig.model_validate(config_option("dataset", args.dataset)
                                           | {"split": args.split, "limit": args.limit, "data_dir": None})
    charts = [chart.model_copy(update={"gold": []}) for chart in load_charts(dataset)]
    extractor.load()
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    messages = [request.messages for index, chart in enumerate(charts) for request in extractor._requests(index, chart)]
    params = SamplingParams(max_tokens=extractor.config.max_new_tokens, temperature=extractor.config.temperature,
                            seed=extractor.config.seed, structured_outputs=StructuredOutputsParams(json=extractor.schema))

    def raw() -> tuple[float, int, int]:
        started = time.perf_counter()
        outputs = extractor._model.chat(messages, params, use_tqdm=False)
        seconds = time.perf_counter() - started
        return seconds, sum(len(o.prompt_token_ids or []) for o in outputs), sum(len(o.outputs[0].token_ids) for o in outputs)

    def harness() -> tuple[float, int, int]:
        started = time.perf_counter()
        extractions = extractor.extract(charts)
        seconds = time.perf_counter() - started
        return seconds, sum(e.input_tokens for e in extractions), sum(e.output_tokens for e in extractions)

    extractor._model.chat(messages[:1], params, use_tqdm=False)  # warm-up: first-call compilation and caches
    rounds: dict[str, list[tuple[float, int, int]]] = {"raw LLM.chat": [], "harness (VllmExtractor.extract)": []}
    for _ in range(args.repeats):
        rounds["raw LLM.chat"].append(raw())
        rounds["harness (VllmExtractor.extract)"].append(harness())

    table = Table(title=f"vLLM extraction: {len(charts)} charts ({len(messages)} prompts) of {args.dataset}/{args.split}, "
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
    console.print(f"harness / raw engine: {raw_s / harness_s:.3f} of the raw charts per second"
                  f" (output tokens raw {raw_out}, harness {harness_out})", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
