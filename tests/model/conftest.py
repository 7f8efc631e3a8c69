from __future__ import annotations

import pytest

from reid.model.muva import MuvaModel
from tests.model.helpers import demo_model


@pytest.fixture
def model() -> MuvaModel:
    """The demo model (3 layers, width 128, 6 identities), random init, eval mode."""
    return demo_model()
