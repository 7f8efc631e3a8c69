"""Who appears where: the list of images of one domain, before any pixel is drawn.

Planning is sequential and cheap; rendering (the expensive part) then runs in any order
or process, because every image carries everything it needs, including the key of its
own random stream: (seed, domain, split, index). Process order never matters.

Protocol facts the plan guarantees:
- each identity (train or test) is seen by 2–4 cameras;
- a test identity's queries come from one camera and its gallery mostly from the others
  (sometimes one same-camera gallery image, which the Market protocol drops), so every
  query keeps at least one valid match;
- the Market look-alike gets pid 0 distractors and pid −1 junk in its gallery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid.synth.config import Synth
from reid.synth.identities import Identity, sample_identities
from reid.synth.layouts import Namer
from reid.synth.styles import DOMAIN_STYLES, TIMES, CameraStyle, camera_styles

DOMAIN_CODES = {"MA": 1, "D": 2, "MS": 3, "C3": 4}
SPLIT_CODES = {"train": 1, "query": 2, "gallery": 3}
_PLAN, _CAMS, _IDS = 101, 102, 103  # stream codes beside the split codes


@dataclass(frozen=True)
class Shot:
    """One image to render, and where it goes."""

    domain: str
    split: str  # train | query | gallery
    index: int  # position within the domain's split: with the seed, the image's random stream
    kind: str  # person | distractor | junk
    pid: int  # as written on disk: −1 junk, 0 Market distractor
    camera: CameraStyle
    identity: Identity | None  # None for junk
    time: str  # time of day (MSMT names; lighting where the domain has it)
    relpath: str  # posix, relative to the dataset folder

    def rng(self, seed: int) -> np.random.Generator:
        """This image's own random stream, keyed by (seed, domain, split, index)."""
        return _stream(seed, self.domain, SPLIT_CODES[self.split], self.index)


def _stream(seed: int, domain: str, code: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, DOMAIN_CODES[domain], code, index])


def _cams(rng: np.random.Generator, n_cams: int, max_cams: int = 4) -> list[int]:
    k = int(rng.integers(2, min(n_cams, max_cams) + 1))
    return [int(c) + 1 for c in rng.choice(n_cams, k, replace=False)]


def plan_domain(domain: str, config: Synth) -> list[Shot]:
    """Every image of one domain, in a fixed order (train, query, gallery)."""
    seed, train_ids, test_ids = config.seed, config.train_ids, config.test_ids
    style = DOMAIN_STYLES[domain]
    rng = _stream(seed, domain, _PLAN)
    cams = camera_styles(style, _stream(seed, domain, _CAMS))
    n_distractors = config.distractors if domain == "MA" else 0
    pool = sample_identities(_stream(seed, domain, _IDS), train_ids + test_ids + n_distractors, style.wardrobe)
    namer = Namer(domain, rng)
    train_pids, test_pids = namer.pids(train_ids, test_ids)

    # (split, kind, pid, identity, camera, date) in generation order
    rows: list[tuple[str, str, int, Identity | None, int, int]] = []
    for slot, pid in enumerate(train_pids):
        chosen, date = _cams(rng, style.n_cams), int(rng.integers(4))
        seq = [chosen[i % len(chosen)] for i in range(config.images_per_id)]
        rows += [("train", "person", pid, pool[slot], int(c), date) for c in rng.permutation(seq)]
    gallery: list[tuple[str, str, int, Identity | None, int, int]] = []
    for slot, pid in enumerate(test_pids, start=train_ids):
        chosen, date = _cams(rng, style.n_cams), int(rng.integers(4))
        (q_lo, q_hi), (g_lo, g_hi) = config.queries_per_id, config.gallery_per_id
        n_query, n_gallery = int(rng.integers(q_lo, q_hi + 1)), int(rng.integers(g_lo, g_hi + 1))
        others = chosen[1:]
        gcams = [others[i % len(others)] for i in range(n_gallery)]
        if n_gallery >= 3 and rng.random() < 0.25:
            gcams[-1] = chosen[0]
        rows += [("query", "person", pid, pool[slot], chosen[0], date)] * n_query
        gallery += [("gallery", "person", pid, pool[slot], c, date) for c in gcams]
    for ident in pool[train_ids + test_ids:]:
        gallery.append(("gallery", "distractor", 0, ident, int(rng.integers(1, style.n_cams + 1)), 0))
    for _ in range(config.junk if domain == "MA" else 0):
        gallery.append(("gallery", "junk", -1, None, int(rng.integers(1, style.n_cams + 1)), 0))
    rows += [gallery[int(i)] for i in rng.permutation(len(gallery))]

    shots, counters = [], dict.fromkeys(SPLIT_CODES, 0)
    for split, kind, pid, ident, cam, date in rows:
        time = TIMES[int(rng.integers(len(TIMES)))]
        relpath = namer.name(split, pid, cam, time, date)
        shots.append(Shot(domain, split, counters[split], kind, pid, cams[cam - 1], ident, time, relpath))
        counters[split] += 1
    return shots
