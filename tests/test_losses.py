"""Losses against hand-worked values, an independent loop implementation, and a gradient fuzz."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eam_ser.models.flam.losses import (
    CenterLoss,
    MultiLoss,
    center_loss,
    focal_loss,
    hard_and_soft_labels,
    inverse_frequency_weights,
    kl_divergence_loss,
    supervised_contrastive_loss,
)

LN2, LN3, LN5 = math.log(2.0), math.log(3.0), math.log(5.0)

# The 3-sample example used throughout. softmax(logits):
#   row 0: [0, 0, 0]         -> p = [1/3, 1/3, 1/3]
#   row 1: [ln 2, 0, 0]      -> p = [1/2, 1/4, 1/4]
#   row 2: [0, ln 3, 0]      -> p = [1/5, 3/5, 1/5]
LOGITS = torch.tensor([[0.0, 0.0, 0.0], [LN2, 0.0, 0.0], [0.0, LN3, 0.0]], dtype=torch.float64)
# Sample 1 is a 50/50 mix of classes 0 and 1; the others are un-mixed.
SOFT_LABELS = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
HARD_LABELS = torch.tensor([0, 0, 1])


# ---- independent straightforward implementations (python loops, float64) ----


def reference_kl(logits: np.ndarray, targets: np.ndarray) -> float:
    total = 0.0
    for row, target in zip(logits, targets, strict=True):
        probs = np.exp(row) / np.exp(row).sum()
        total += sum(
            t * (math.log(t) - math.log(p)) for t, p in zip(target, probs, strict=True) if t > 0
        )
    return total / len(logits)


def reference_focal(logits, targets, gamma, alpha=None) -> float:
    total = 0.0
    for row, target in zip(logits, targets, strict=True):
        probs = np.exp(row) / np.exp(row).sum()
        for k, (t, p) in enumerate(zip(target, probs, strict=True)):
            weight = 1.0 if alpha is None else alpha[k]
            total += -t * weight * (1 - p) ** gamma * math.log(p)
    return total / len(logits)


def reference_center(embeddings, targets, centers) -> float:
    total = 0.0
    for e, target in zip(embeddings, targets, strict=True):
        for t, c in zip(target, centers, strict=True):
            total += t * sum((a - b) ** 2 for a, b in zip(e, c, strict=True)) / 2
    return total / len(embeddings)


def reference_supcon(embeddings, labels, temperature) -> float:
    z = [np.asarray(e) / np.linalg.norm(e) for e in embeddings]
    if len(set(labels)) < 2:
        return 0.0
    losses = []
    for i in range(len(z)):
        positives = [p for p in range(len(z)) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denominator = sum(math.exp(z[i] @ z[a] / temperature) for a in range(len(z)) if a != i)
        losses.append(
            -sum(math.log(math.exp(z[i] @ z[p] / temperature) / denominator) for p in positives)
            / len(positives)
        )
    return sum(losses) / len(losses)


# ---- KL ----


def test_kl_hand_value():
    # row 0: ln 3; row 1: 0.5 ln(0.5/0.5) + 0.5 ln(0.5/0.25) = 0.5 ln 2; row 2: ln(5/3).
    expected = (LN3 + 0.5 * LN2 + (LN5 - LN3)) / 3
    assert kl_divergence_loss(LOGITS, SOFT_LABELS).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(reference_kl(LOGITS.numpy(), SOFT_LABELS.numpy()))


def test_kl_with_one_hot_targets_is_cross_entropy():
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 3, 1, 1, 2])
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert kl_divergence_loss(logits, one_hot).item() == pytest.approx(expected.item(), rel=1e-6)


def test_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="soft_labels"):
        kl_divergence_loss(LOGITS, SOFT_LABELS[:, :2])


# ---- focal ----


def test_focal_hand_value():
    # gamma = 2:
    #   row 0: (2/3)^2 ln 3 = 4/9 ln 3
    #   row 1: 0.5 (1/2)^2 ln 2 + 0.5 (3/4)^2 ln 4 = 0.125 ln 2 + 0.5625 ln 2 = 0.6875 ln 2
    #   row 2: (2/5)^2 ln(5/3) = 0.16 ln(5/3)
    expected = (4 / 9 * LN3 + 0.6875 * LN2 + 0.16 * (LN5 - LN3)) / 3
    assert focal_loss(LOGITS, SOFT_LABELS, gamma=2.0).item() == pytest.approx(expected, rel=1e-6)
    # alpha = [1, 2, 0.5]: row 1 becomes 0.125 ln 2 + 2 * 0.5625 ln 2, row 2 doubles.
    expected_alpha = (4 / 9 * LN3 + 1.25 * LN2 + 0.32 * (LN5 - LN3)) / 3
    value = focal_loss(LOGITS, SOFT_LABELS, gamma=2.0, alpha=[1.0, 2.0, 0.5]).item()
    assert value == pytest.approx(expected_alpha, rel=1e-6)
    assert expected_alpha == pytest.approx(
        reference_focal(LOGITS.numpy(), SOFT_LABELS.numpy(), 2.0, [1.0, 2.0, 0.5])
    )


def test_focal_hard_labels_equal_one_hot_and_gamma_zero_is_cross_entropy():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=generator)
    labels = torch.tensor([0, 1, 2, 3, 3, 1])
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    assert focal_loss(logits, labels, gamma=1.5).item() == pytest.approx(
        focal_loss(logits, one_hot, gamma=1.5).item(), rel=1e-6
    )
    cross_entropy = torch.nn.functional.cross_entropy(logits, labels).item()
    assert focal_loss(logits, labels, gamma=0.0).item() == pytest.approx(cross_entropy, rel=1e-6)
    random_targets = torch.softmax(torch.randn(6, 4, generator=generator), dim=1)
    assert focal_loss(logits, random_targets, gamma=3.0, alpha=[0.5, 1, 2, 4]).item() == (
        pytest.approx(
            reference_focal(logits.numpy(), random_targets.numpy(), 3.0, [0.5, 1, 2, 4]), rel=1e-5
        )
    )


def test_focal_validates_arguments():
    with pytest.raises(ValueError, match="gamma"):
        focal_loss(LOGITS, HARD_LABELS, gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        focal_loss(LOGITS, HARD_LABELS, alpha=[1.0, 2.0])
    with pytest.raises(ValueError, match="targets"):
        focal_loss(LOGITS, torch.tensor([0, 1, 3]))


def test_inverse_frequency_weights():
    # 6 labels, counts [3, 2, 1]: alpha_k = 6 / (3 n_k) = [2/3, 1, 2].
    assert inverse_frequency_weights([0, 0, 0, 1, 1, 2], 3) == pytest.approx([2 / 3, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"classes \[2\]"):
        inverse_frequency_weights([0, 1, 1], 3)


# ---- center ----

EMBEDDINGS = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
CENTERS = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]], dtype=torch.float64)


def test_center_hand_value():
    # row 0 (class 0): ||(1,0)||^2 = 1
    # row 1 (0.5/0.5): 0.5 ||(0,2)||^2 + 0.5 ||(0,2)-(1,1)||^2 = 0.5*4 + 0.5*2 = 3
    # row 2 (class 1): ||(3,4)-(1,1)||^2 = 13
    # sum 17, halved, mean over 3 -> 17/6
    assert center_loss(EMBEDDINGS, SOFT_LABELS, CENTERS).item() == pytest.approx(17 / 6)
    assert center_loss(EMBEDDINGS, torch.tensor([0, 1, 1]), CENTERS).item() == pytest.approx(
        (1 + 2 + 13) / 6
    )
    assert 17 / 6 == pytest.approx(
        reference_center(EMBEDDINGS.numpy(), SOFT_LABELS.numpy(), CENTERS.numpy())
    )


def test_center_loss_module_gradient_reaches_centers():
    module = CenterLoss(3, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        module.centers.copy_(CENTERS)
    loss = module(EMBEDDINGS.float(), SOFT_LABELS.float())
    loss.backward()
    assert loss.item() == pytest.approx(17 / 6, rel=1e-6)
    # d/dc_k = -mean_b t_bk (e_b - c_k): c_2 has no weight, c_0 gets -(1/3)[(1,0) + 0.5 (0,2)].
    assert module.centers.grad[2].tolist() == [0.0, 0.0]
    assert module.centers.grad[0].tolist() == pytest.approx([-1 / 3, -1 / 3])


def test_center_validates_shapes():
    with pytest.raises(ValueError, match="centers"):
        center_loss(EMBEDDINGS, SOFT_LABELS, CENTERS[:, :1])
    with pytest.raises(ValueError, match="soft_labels"):
        center_loss(EMBEDDINGS, SOFT_LABELS[:2], CENTERS)


# ---- supervised contrastive ----


def test_supcon_hand_value():
    # Directions (1,0), (0,1), (-1,0) (lengths 3, 0.5, 2: normalisation removes them); labels
    # [0, 0, 1]. Cosine similarities s01 = 0, s02 = -1, s12 = 0; temperature T.
    #   anchor 0: positive 1 -> -log(e^0 / (e^0 + e^(-1/T))) = log(1 + e^(-1/T))
    #   anchor 1: positive 0 -> -log(e^0 / (e^0 + e^0)) = log 2
    #   anchor 2: no positive -> excluded
    embeddings = torch.tensor([[3.0, 0.0], [0.0, 0.5], [-2.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1])
    for temperature in (1.0, 0.5):
        expected = (math.log(1 + math.exp(-1 / temperature)) + LN2) / 2
        value = supervised_contrastive_loss(embeddings, labels, temperature).item()
        assert value == pytest.approx(expected, rel=1e-6)
        assert expected == pytest.approx(
            reference_supcon(embeddings.numpy(), labels.tolist(), temperature)
        )


def test_supcon_matches_reference_on_random_batch():
    generator = torch.Generator().manual_seed(3)
    embeddings = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 1, 3, 2])  # class 3 has no positive
    value = supervised_contrastive_loss(embeddings, labels, 0.1).item()
    assert value == pytest.approx(reference_supcon(embeddings.numpy(), labels.tolist(), 0.1))


@pytest.mark.parametrize("labels", [[2, 2, 2, 2], [1]])
def test_supcon_one_class_or_one_sample_is_zero_with_graph(labels):
    embeddings = torch.randn(len(labels), 3, requires_grad=True)
    loss = supervised_contrastive_loss(embeddings, torch.tensor(labels))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_supcon_validates_arguments():
    with pytest.raises(ValueError, match="temperature"):
        supervised_contrastive_loss(EMBEDDINGS, HARD_LABELS, temperature=0.0)
    with pytest.raises(ValueError, match="labels"):
        supervised_contrastive_loss(EMBEDDINGS, HARD_LABELS[:2])


# ---- MultiLoss ----


def test_multiloss_is_weighted_sum_of_terms():
    embeddings = torch.tensor([[3.0, 0.0], [0.0, 0.5], [-2.0, 0.0]], dtype=torch.float64)
    multi_loss = MultiLoss(
        kl_weight=1.0,
        focal_weight=0.5,
        center_weight=0.1,
        supcon_weight=0.2,
        focal_gamma=2.0,
        supcon_temperature=1.0,
    )
    result = multi_loss(LOGITS, embeddings, SOFT_LABELS, HARD_LABELS, CENTERS)
    assert set(result.terms) == {"kl", "focal", "center", "supcon"}
    assert result.terms["kl"].item() == pytest.approx(
        kl_divergence_loss(LOGITS, SOFT_LABELS).item()
    )
    assert result.terms["supcon"].item() == pytest.approx(
        (math.log(1 + math.exp(-1)) + LN2) / 2, rel=1e-6
    )
    expected = sum(
        weight * result.terms[name].item()
        for name, weight in {"kl": 1.0, "focal": 0.5, "center": 0.1, "supcon": 0.2}.items()
    )
    assert result.loss.item() == pytest.approx(expected, rel=1e-9)


def test_multiloss_skips_zero_weight_terms_and_checks_inputs():
    multi_loss = MultiLoss(center_weight=0.0, supcon_weight=0.0)
    result = multi_loss(LOGITS, None, SOFT_LABELS, HARD_LABELS)
    assert set(result.terms) == {"kl", "focal"}
    with pytest.raises(ValueError, match="centers"):
        MultiLoss()(LOGITS, EMBEDDINGS, SOFT_LABELS, HARD_LABELS)
    with pytest.raises(ValueError, match="embeddings"):
        MultiLoss()(LOGITS, None, SOFT_LABELS, HARD_LABELS, CENTERS)
    with pytest.raises(ValueError, match="center_weight"):
        MultiLoss(center_weight=-1.0)


def test_cross_process_multiloss_is_the_one_process_loss_without_a_process_group():
    embeddings = torch.tensor([[3.0, 0.0], [0.0, 0.5], [-2.0, 0.0]], dtype=torch.float64)
    per_process = MultiLoss()(LOGITS, embeddings, SOFT_LABELS, HARD_LABELS, CENTERS)
    across = MultiLoss(cross_process=True)
    assert across.training and across.cross_process
    result = across(LOGITS, embeddings, SOFT_LABELS, HARD_LABELS, CENTERS)
    assert torch.equal(result.loss, per_process.loss)
    assert all(torch.equal(result.terms[name], per_process.terms[name]) for name in result.terms)


def test_hard_and_soft_labels_from_either():
    soft = torch.tensor([[0.2, 0.8, 0.0], [0.6, 0.0, 0.4]])
    labels, targets = hard_and_soft_labels(torch.zeros(2, 3), None, soft)
    assert labels.tolist() == [1, 0] and targets is soft
    labels, targets = hard_and_soft_labels(torch.zeros(2, 3), torch.tensor([[2], [0]]), None)
    assert labels.tolist() == [2, 0] and targets.tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        hard_and_soft_labels(torch.zeros(2, 3), torch.tensor([0, 3]), None)
    with pytest.raises(ValueError, match="labels must be"):
        hard_and_soft_labels(torch.zeros(2, 3), torch.tensor([0, 1, 2]), None)


def test_hard_and_soft_targets_is_the_deprecated_name_of_hard_and_soft_labels():
    from eam_ser.models.flam.losses import hard_and_soft_targets

    soft = torch.tensor([[0.2, 0.8, 0.0], [0.6, 0.0, 0.4]])
    with pytest.warns(FutureWarning, match="removed in 0.6: use hard_and_soft_labels"):
        labels, targets = hard_and_soft_targets(torch.zeros(2, 3), None, soft)
    assert labels.tolist() == [1, 0] and targets is soft


# ---- gradient fuzz ----


@st.composite
def batches(draw):
    batch_size = draw(st.integers(1, 6))
    num_labels = draw(st.integers(2, 4))
    embedding_size = draw(st.integers(1, 4))
    one_class = draw(st.booleans())
    labels = (
        [draw(st.integers(0, num_labels - 1))] * batch_size
        if one_class
        else draw(
            st.lists(st.integers(0, num_labels - 1), min_size=batch_size, max_size=batch_size)
        )
    )
    values = st.floats(-30.0, 30.0, allow_nan=False, width=32)
    all_equal = draw(st.booleans())
    if all_equal:
        row = draw(st.lists(values, min_size=embedding_size, max_size=embedding_size))
        embeddings = [row] * batch_size
    else:
        embeddings = draw(
            st.lists(
                st.lists(values, min_size=embedding_size, max_size=embedding_size),
                min_size=batch_size,
                max_size=batch_size,
            )
        )
    logits = draw(
        st.lists(
            st.lists(values, min_size=num_labels, max_size=num_labels),
            min_size=batch_size,
            max_size=batch_size,
        )
    )
    mix = draw(st.floats(0.0, 1.0))
    gamma = draw(st.sampled_from([0.0, 0.5, 2.0]))
    return labels, embeddings, logits, mix, gamma


@settings(max_examples=60, deadline=None)
@given(batches())
def test_gradients_are_finite(batch):
    labels, embeddings, logits, mix, gamma = batch
    labels = torch.tensor(labels)
    num_labels = len(logits[0])
    embeddings = torch.tensor(embeddings, requires_grad=True)
    logits = torch.tensor(logits, requires_grad=True)
    one_hot = torch.nn.functional.one_hot(labels, num_labels).float()
    soft_labels = mix * one_hot + (1 - mix) * one_hot.roll(1, dims=0)
    centers = torch.zeros(num_labels, embeddings.shape[1], requires_grad=True)
    multi_loss = MultiLoss(focal_gamma=gamma, focal_alpha=[1.0] * num_labels)
    result = multi_loss(logits, embeddings, soft_labels, labels, centers)
    for name, term in result.terms.items():
        assert torch.isfinite(term), name
    result.loss.backward()
    for tensor in (embeddings, logits, centers):
        assert torch.isfinite(tensor.grad).all()
