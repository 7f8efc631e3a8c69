"""The `evaluation` section and its `rerank` block: what `run_evaluate` and the re-ranker take."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from reid.config.section import Device, Fraction, Invalid, NonNegInt, PosInt, Section


class KReciprocalParams(Section):
    """k-reciprocal re-ranking's parameters: `k1` the neighbourhood, `k2` the neighbours averaged by the local
    query expansion (1 = none), `lambda_value` the weight of the original distance."""

    k1: PosInt
    k2: PosInt
    lambda_value: Fraction

    @model_validator(mode="after")
    def _expansion_within_neighbourhood(self) -> KReciprocalParams:
        if self.k2 > self.k1:
            raise Invalid("k2", self.k2, f"must not exceed k1 ({self.k1}): the query expansion averages "
                          f"over the k2 nearest, part of the k1-neighbourhood (the paper: k1 20, k2 6)")
        return self


class Rerank(KReciprocalParams):
    """k-reciprocal re-ranking, beside the plain numbers, when `enabled`."""

    enabled: StrictBool


class Evaluation(Section):
    """`batch_size` images per forward; `workers` decoding processes (0 = in the main one); `max_rank` the CMC
    length (Rank-10 is reported); `sheet_queries`, `mask_images` size the pictures and `bootstrap_draws` the
    95 % intervals (0 = none)."""

    batch_size: PosInt
    device: Device
    workers: NonNegInt
    max_rank: Annotated[int, Field(ge=10)]
    sheet_queries: NonNegInt
    mask_images: NonNegInt
    bootstrap_draws: NonNegInt
    rerank: Rerank
