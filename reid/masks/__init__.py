"""Pseudo-label masks (paper §3.2.3): part boxes → calibrated boxes → votes on the ViT patch grid."""
