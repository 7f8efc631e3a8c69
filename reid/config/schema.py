"""The one typed configuration tree: every section of params.yaml, composed, and the checks across sections.

Each section is defined once, in the package whose functions take it (`reid.<package>.config`):
an unknown key is refused (a typo), every key is required (so configs/paper.yaml and params.yaml
cannot drift apart, and no library default decides a run), every choice is a closed set and every
number has its bounds.  Every stage validates the whole tree before it does any work, so a wrong
value in a late section stops the first stage that runs; the sections import no torch, so a
stage's code dependencies stay its own.  Because it composes every package's sections, this
module sits above them in the layers.
"""

from __future__ import annotations

from pydantic import model_validator

from reid.config.section import Invalid, Section
from reid.data.config import Data, Protocol
from reid.evaluation.config import Evaluation
from reid.grounding.config import Grounding
from reid.masks.config import Calibration, Masks
from reid.model.params import Model
from reid.muse.config import Muse
from reid.pretrain.config import Pretrain
from reid.synth.config import Synth
from reid.training.config import ClipFgdi, ClipReid, LvlmReid, Method, Stage1, Stage2, Train
from reid.vlm.config import Vlm

__all__ = ["Invalid", "PipelineConfig"]


class PipelineConfig(Section):
    """The whole params file."""

    method: Method
    synth: Synth
    data: Data
    protocol: Protocol
    grounding: Grounding
    calibration: Calibration
    masks: Masks
    pretrain: Pretrain
    model: Model
    train: Train
    stage1: Stage1
    stage2: Stage2
    clip_reid: ClipReid
    clip_fgdi: ClipFgdi
    lvlm_reid: LvlmReid
    vlm: Vlm
    muse: Muse
    evaluation: Evaluation

    @model_validator(mode="after")
    def _across_sections(self) -> PipelineConfig:
        named = {"protocol.source": self.protocol.sources,
                 "protocol.targets": () if self.protocol.targets == "auto" else self.protocol.targets}
        for key, names in named.items():
            unknown = [n for n in names if n not in self.data.known]
            if unknown:
                raise Invalid(key, getattr(self.protocol, key.split(".")[1]),
                              f"{unknown[0]!r} is no dataset; allowed: {', '.join(self.data.known)} "
                              f"(custom datasets are declared in data.custom)")
        return self
