"""CLIP-FGDI's domain classifier and the gradient reversal in front of one of them (PEERS.md §2.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.factor * grad, None


def grad_reverse(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity forward; the gradient times -`factor` backward (Ganin & Lempitsky's GRL)."""
    return _GradReverse.apply(x, factor)


class DomainClassifier(nn.Module):
    """Linear → BatchNorm → ReLU → Linear, log-probabilities over the domains."""

    def __init__(self, dim: int, hidden: int, domains: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, domains)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.fc2(F.relu(self.bn(self.fc1(x)))), dim=1)
