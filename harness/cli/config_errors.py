"""Hydra's composition errors (unknown key, unknown option, unparsable override) as one ``error:`` line.

Hydra prints several lines of its own (config search paths, a ``+key=value`` hint that would only hide a typo) and exits
1; the harness promises one line naming the key and the closest valid names, and exit 2 (``USAGE_ERROR``).
"""

from __future__ import annotations

from harness.job_config import closest


def composition_message(error: Exception) -> str | None:
    """The one-line message for a Hydra composition error, or None for any other exception (a bug keeps its traceback)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(error, MissingConfigException) and error.missing_cfg_file and "/" in error.missing_cfg_file:
        group, _, option = error.missing_cfg_file.rpartition("/")
        return f"unknown {group} option {option!r} ({group}={option}): {closest(option, error.options or ())}"
    if isinstance(error, OverrideParseException):
        return f"cannot read override {error.override!r}: {error.message.splitlines()[0]}"
    if not isinstance(error, ConfigCompositionException):
        return None
    cause = error.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):  # a key not in the config
        group, _, key = cause.full_key.rpartition(".")
        keys = list(cause.parent_node.keys()) if getattr(cause, "parent_node", None) is not None else []
        where = f"{group} has no key {key!r}" if group else f"no config key {key!r}"
        return f"unknown config key {cause.full_key} ({where}): {closest(key, keys, f'{group}.' if group else '')}"
    first = str(error).splitlines()[0]
    if "No match in the defaults list" in str(error):  # an optional group (experiment): it is added, not overridden
        group = first.split("'")[1]
        return f"{group} is not chosen by default: add it with +{group}=<option> (harness run --help lists the options)"
    return first
