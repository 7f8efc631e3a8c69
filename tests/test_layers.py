"""Which way the packages of reid/ may import: each only from the layers below its own.

The table is the code as it stands: errors and utils lowest, the configuration's building
blocks (sections, checks, autos) above them, then the steps in pipeline order, the model,
evaluation, training, the schema that composes every package's sections (and the loader of
params files on it), and the user-facing modules on top. A row names packages or, where one
module of a package sits elsewhere, that module (`config.schema`): the most specific entry
decides. A few constants-only modules (importing nothing of reid) are shared by every layer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.wiring import ROOT, imported_modules, module_file

LAYERS: tuple[tuple[str, ...], ...] = (  # lowest first; a package imports only from lower rows (and itself)
    ("errors", "wiring"),  # wiring: the table of stages and their files, plain data
    ("utils",),
    ("engine",),  # the one training loop and its torchrun, state, log and finite-check helpers
    ("config",),  # section, checks, autos: what every package's `config` module builds on
    ("synth",),
    ("grounding",),
    ("masks",),
    ("data",),
    ("model",),
    ("prior",),  # a CLIP prior (open_clip checkpoint) offered as an encoder beside the Re-ID models
    ("vlm",),  # the vision-language model (MUSE's judge, LVLM-ReID's semantic token): built, trained, loaded
    ("evaluation",),
    ("pretrain",),
    ("training",),  # stage 1 asks pretrain where its checkpoint lies
    ("muse",),  # pairs from a trained encoder, SFT of the VLM, μ scores fused into re-ranking
    ("evaluation.stage",),  # the evaluate stage composes evaluation with MUSE's rankings
    ("config.schema", "config.load"),  # composes the sections every package above `config` defines
    ("inference",),
    ("export", "feature_store", "search"),
    ("cli",),
)
SHARED = ("reid.config.autos", "reid.data.layouts", "reid.grounding.parts", "reid.model.clip_configs")
RANK = {package: rank for rank, row in enumerate(LAYERS) for package in row}


def package_of(module: str) -> str | None:
    """The entry of LAYERS that `module` belongs to (the most specific one); None for reid itself."""
    parts = module.split(".")[1:]
    return next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in RANK), None)


def resolved(name: str) -> str | None:
    """The module an imported name lives in (`reid.a.b.NAME` → `reid.a.b`), or None outside reid."""
    parts = name.split(".")
    if parts[0] != "reid":
        return None
    while parts and module_file(".".join(parts)) is None:
        parts.pop()
    return ".".join(parts) if parts else None


def reid_modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted((ROOT / "reid").rglob("*.py"))}


def test_every_package_has_a_layer():
    packages = {m.split(".")[1] for m in reid_modules() if "." in m}
    assert packages == {entry.split(".")[0] for entry in RANK}, f"place these in LAYERS: {sorted(packages - set(RANK))}"
    assert all(module_file(f"reid.{entry}") for entry in RANK), "every entry of LAYERS names a module of reid"


@pytest.mark.parametrize("module", SHARED)
def test_shared_modules_import_nothing_of_reid(module):
    path = reid_modules()[module]
    inner = sorted(m for m in map(resolved, imported_modules(path)) if m is not None)
    assert not inner, f"{module} is shared by every layer, so it must import nothing of reid, but imports {inner}"


def test_imports_go_down_the_layers():
    offending = []
    for module, path in reid_modules().items():
        own = package_of(module)
        for target in sorted({m for m in map(resolved, imported_modules(path)) if m is not None}):
            theirs = package_of(target)
            if own is None or theirs in (None, own) or target in SHARED:
                continue
            if RANK[theirs] >= RANK[own] and not {own, theirs} <= set(LAYERS[RANK[own]]):
                offending.append(f"{path.relative_to(ROOT)} imports {target} ({own} may not import {theirs})")
    assert not offending, "imports against the layers:\n" + "\n".join(offending)
