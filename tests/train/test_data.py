import numpy as np
import pytest
import torch

from lab.train import data


@pytest.mark.parametrize("fraction, n, expected", [(0.2, 1437, 287), (0.4, 1437, 575), (0.0, 1437, 0),
                                                    (0.5, 3, 2), (0.999, 10, 10)])
def test_label_noise_replaces_exactly_round_fraction_n_labels_each_by_another_class(fraction, n, expected):
    y = torch.arange(n) % 10
    noisy, chosen = data.noisy_labels(y, fraction, seed=3, num_classes=10)
    changed = (noisy != y).nonzero().flatten().numpy()
    assert len(changed) == expected == data.noise_count(fraction, n)
    assert np.array_equal(changed, chosen)  # every chosen label changed class: none "replaced" by itself
    assert torch.equal(y, torch.arange(n) % 10)  # the input is untouched
    assert int(noisy.min()) >= 0 and int(noisy.max()) <= 9


def test_label_noise_is_seeded():
    y = torch.arange(500) % 10
    first, _ = data.noisy_labels(y, 0.3, seed=1, num_classes=10)
    again, _ = data.noisy_labels(y, 0.3, seed=1, num_classes=10)
    other, _ = data.noisy_labels(y, 0.3, seed=2, num_classes=10)
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("fraction, n, expected", [(0.5, 1437, 718), (1.0, 1437, 1437), (0.1, 5, 1),
                                                    (0.001, 5, 1)])
def test_random_subset_keeps_exactly_round_fraction_n_distinct_examples(fraction, n, expected):
    kept = data.random_subset(n, fraction, seed=0)
    assert len(kept) == len(set(kept.tolist())) == expected == data.keep_count(fraction, n)
    assert np.array_equal(kept, np.sort(kept)) and kept.max() < n
    assert np.array_equal(kept, data.random_subset(n, fraction, seed=0))
    if expected < n:
        assert not np.array_equal(kept, data.random_subset(n, fraction, seed=1))


def test_hardest_keeps_the_highest_scores_exactly_with_ties_by_index():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.7])
    assert data.hardest(scores, 0.5).tolist() == [1, 3, 5]
    assert data.hardest(np.ones(4), 0.5).tolist() == [0, 1]  # ties: the lower index first


def test_el2n_is_the_l2_norm_of_the_softmax_error():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x  # the input is the logits

    logits = torch.tensor([[10.0, -10.0], [0.0, 0.0], [-10.0, 10.0]])
    scores = data.el2n_scores(Fixed(), logits, torch.tensor([0, 0, 0]), num_classes=2)
    # right and confident ~0; a coin flip: |(0.5-1, 0.5)| = sqrt(0.5); confidently wrong ~sqrt(2)
    assert scores == pytest.approx([0.0, 0.5 ** 0.5, 2 ** 0.5], abs=1e-6)
