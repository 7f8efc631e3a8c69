"""Evaluation: feature extraction, Market-1501 metrics (mAP, CMC), part-mask IoU, pictures, the evaluate step."""
