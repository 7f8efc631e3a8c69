"""The one training loop (`reid.engine.loop.fit`) that pretrain, stage-1 and stage-2 run as tasks."""
