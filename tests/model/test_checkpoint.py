import pytest
import torch

from reid.model.checkpoint import load_checkpoint, load_for_inference, save_checkpoint
from tests.model.helpers import random_images, row_masks


@pytest.fixture
def trained(model):
    """The demo model with non-trivial BNNeck statistics, as after training."""
    model.train()
    with torch.no_grad():
        model(random_images(8, seed=1))
    return model.eval()


def test_inference_round_trip_gives_identical_features(trained, tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(trained, path, extra={"epoch": 3, "metrics": {"mAP": 0.5}})
    restored = load_for_inference(path, "cpu")
    assert not restored.training
    assert not hasattr(restored, "text") and not hasattr(restored, "prompts")
    images = random_images(3, seed=2)
    with torch.no_grad():
        assert torch.equal(restored(images), trained.image(images))
        assert torch.equal(restored(images, row_masks(3)), trained.image(images, row_masks(3)))


def test_full_round_trip_restores_prompts_and_extra(trained, tmp_path):
    path = tmp_path / "full.pt"
    save_checkpoint(trained, path, extra={"epoch": 3})
    restored, extra = load_checkpoint(path)
    assert extra == {"epoch": 3}
    assert restored.config == trained.config
    labels = torch.arange(6)
    with torch.no_grad():
        assert torch.equal(restored.encode_text(labels), trained.encode_text(labels))


def test_image_only_checkpoint(trained, tmp_path):
    path = tmp_path / "image.pt"
    save_checkpoint(trained.image, path)
    images = random_images(2)
    with torch.no_grad():
        assert torch.equal(load_for_inference(path)(images), trained.image(images))
    with pytest.raises(ValueError, match="only the image side"):
        load_checkpoint(path)


def test_foreign_files_are_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="not a MUVA checkpoint"):
        load_for_inference(path)
