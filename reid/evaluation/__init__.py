"""Evaluation: Market-1501 protocol ranking metrics (mAP, CMC) for re-identification features."""
