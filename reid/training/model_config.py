"""From the `model` section of params.yaml and the protocol to a `MuvaConfig`.

What the protocol decides: the number of identities, which domain each identity comes
from (domain-specific prompts), and the RMP head count when `rmp.heads` is "auto"
(SPEC §4: 2 heads for single-source training except MSMT17, 8 for MSMT17 and multi-source).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reid.config.autos import AUTO, auto_rmp_heads
from reid.model.configs import DOMAIN_STYLE_PHRASES, MuvaConfig

MODEL_ONLY_KEYS = ("pretrained",)  # in params.yaml `model`, but about loading, not the architecture


def muva_config(
    model_params: dict[str, Any], sources: Sequence[str], num_classes: int, class_domains: Sequence[int]
) -> MuvaConfig:
    """The architecture to train on `sources`; `class_domains[c]` = index in `sources` of identity c."""
    data = {k: v for k, v in model_params.items() if k not in MODEL_ONLY_KEYS}
    rmp = dict(data.pop("rmp", {}) or {})
    if rmp.get("heads", AUTO) == AUTO:
        rmp["heads"] = auto_rmp_heads(sources)
    prompts = {k: v for k, v in (data.pop("prompts", {}) or {}).items() if v is not None}  # null = the default
    if prompts.get("style") == "domain_specific" and not prompts.get("domain_phrases"):
        missing = [s for s in sources if s not in DOMAIN_STYLE_PHRASES]
        if missing:
            raise ValueError(
                f"no domain phrase for {missing}: give model.prompts.domain_phrases (one per source, in order)"
            )
        prompts["domain_phrases"] = [DOMAIN_STYLE_PHRASES[s] for s in sources]
    return MuvaConfig.from_dict(
        {**data, "rmp": rmp, "prompts": prompts, "num_classes": int(num_classes), "class_domains": list(class_domains)}
    )
