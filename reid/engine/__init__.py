"""Training machinery shared by every stage: the one loop (`loop.fit`), its resumable state, DVCLive log,
divergence guard and torchrun support."""
