import torch
import torch.nn.functional as F

from reid.training.memory import class_means, hardest_per_identity, momentum_update


def test_class_means_are_normalised_means():
    features = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0], [1.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    memory = class_means(features, labels, 3)
    expected = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2**-0.5, 2**-0.5]])
    assert torch.allclose(memory, expected)


def test_an_identity_without_features_is_named():
    try:
        class_means(torch.ones(2, 3), torch.tensor([0, 2]), 3)
    except ValueError as err:
        assert "identity 1" in str(err)
    else:
        raise AssertionError("expected a ValueError")


def reference_update(memory, features, labels, momentum):
    """The per-identity loop the vectorised update replaces."""
    memory = memory.clone()
    features = F.normalize(features, dim=1)
    for y in labels.unique():
        rows = torch.nonzero(labels == y).flatten()
        similarity = features[rows] @ memory[y]
        hardest = rows[int(torch.argmin(similarity))]
        memory[y] = F.normalize(momentum * memory[y] + (1 - momentum) * features[hardest], dim=0)
    return memory


def test_vectorised_update_equals_the_loop_on_random_batches():
    generator = torch.Generator().manual_seed(0)
    for trial in range(20):
        memory = F.normalize(torch.randn(10, 8, generator=generator), dim=1)
        labels = torch.randint(0, 10, (24,), generator=generator)
        features = torch.randn(24, 8, generator=generator)
        expected = reference_update(memory, features, labels, 0.2)
        momentum_update(memory, features, labels, 0.2)
        assert torch.allclose(memory, expected, atol=1e-6), trial


def test_the_hardest_sample_is_the_least_similar_and_untouched_rows_stay():
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    features = torch.tensor([[1.0, 0.1], [0.2, 1.0], [1.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 0, 1])
    identities, hardest = hardest_per_identity(memory, features, labels)
    assert identities.tolist() == [0, 1] and hardest.tolist() == [1, 3]  # (0.2, 1) is farthest from (1, 0)
    momentum_update(memory, features, labels, 0.2)
    v = F.normalize(torch.tensor([0.2, 1.0]), dim=0)
    assert torch.allclose(memory[0], F.normalize(0.2 * torch.tensor([1.0, 0.0]) + 0.8 * v, dim=0))
    assert torch.equal(memory[2], torch.tensor([1.0, 0.0]))
    assert torch.allclose(memory[1], torch.tensor([0.0, 1.0]))


def test_ties_go_to_the_earliest_sample():
    memory = torch.tensor([[1.0, 0.0]])
    features = torch.tensor([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    _, hardest = hardest_per_identity(memory, features, torch.tensor([0, 0, 0]))
    assert hardest.tolist() == [0]
