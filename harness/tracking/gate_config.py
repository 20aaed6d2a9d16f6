"""The regression gate's thresholds and bootstrap settings (``conf/gate/<name>.yaml``), and the gate's error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError
from harness.user_paths import UnreadableFileError, read_text_whole


class GateError(HarnessError, RuntimeError):
    """The runs cannot be gated: the message says why."""


class GateConfig(BaseModel):
    """Thresholds and bootstrap settings of the gate (``conf/gate/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    max_micro_f1_drop: float = Field(default=0.01, ge=0, le=1)
    """Largest micro-F1 drop tolerated; the interval's lower bound must stay at or above its negative."""
    max_review_rate_rise: float = Field(default=0.02, ge=0, le=1)
    """Largest review-rate rise tolerated; the interval's upper bound must stay at or below it."""
    min_schema_valid_rate: float = Field(default=0.95, ge=0, le=1)
    """Lowest share of schema-valid extractions; checked only when the candidate records schema_valid_rate."""
    max_denial_rate_rise: float = Field(default=0.01, ge=0, le=1)
    """Largest rise of the modelled denial rate tolerated (share of claims); the interval's upper bound must stay at or
    below it."""
    max_coder_minutes_rise: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    """Largest rise of modelled coder minutes per chart tolerated (review, QA, rework); the interval's upper bound must
    stay at or below it."""
    max_throughput_drop: float = Field(default=0.5, ge=0, le=1)
    """Largest relative drop of charts_per_s (run metrics, no per-chart test): CI machines are noisy."""
    min_wall_s: float = Field(default=5.0, ge=0)
    """Shortest pipeline wall time (``wall_s``, both runs) on which throughput is judged: below it start-up and a busy
    neighbour decide charts_per_s, not the candidate, so the check is skipped and says why."""
    min_charts: int = Field(default=30, ge=1)
    """Fewest paired charts for a conclusive verdict."""
    n_resamples: int = Field(default=2000, ge=100)
    """Paired bootstrap resamples of charts."""
    confidence: float = Field(default=0.95, gt=0, lt=1)
    """Coverage of the intervals of the differences."""
    seed: int = 0
    """Seed of the bootstrap: the same runs give the same verdict."""
    mcnemar_alpha: float = Field(default=0.05, gt=0, lt=1)
    """A loss of exact matches is significant when McNemar's p-value is below this."""


def load_config(name_or_path: str) -> GateConfig:
    """A gate config by option name (``conf/gate/<name>.yaml``) or YAML path."""
    import yaml

    from harness.config import config_option

    try:
        if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
            values = yaml.safe_load(read_text_whole(name_or_path))  # a regular file, size capped: never /dev/zero
        else:
            values = config_option("gate", name_or_path)
        return GateConfig.model_validate(values or {})
    except UnreadableFileError as error:
        raise GateError(f"gate config {name_or_path}: {error.problem}") from None
    except (OSError, yaml.YAMLError) as error:
        raise GateError(f"gate config {name_or_path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise GateError(f"gate config {name_or_path}: {problems}") from None
