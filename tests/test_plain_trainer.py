"""A plain `transformers.Trainer` built exactly as Hugging Face's
``examples/pytorch/audio-classification/run_audio_classification.py`` builds it: default
`TrainingArguments` (no ``label_names``), the feature extractor as ``processing_class`` (so the
Trainer pads with `DataCollatorWithPadding`), a transform that emits only the encoder input and
``labels``, and the script's ``compute_metrics`` reading ``eval_pred.label_ids``; on the real
EmoDB clips bundled in ``examples/data``.

The transformers convention: `find_labels(FlamForSequenceClassification)` is ``["labels"]``, so
such a Trainer evaluates with a loss and hands `compute_metrics` the labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Trainer, TrainingArguments, Wav2Vec2FeatureExtractor
from transformers.utils import find_labels

from conftest import tiny_wavlm_config
from eam_ser.corpora import label_names, load_manifest, train_test_split_by_speakers
from eam_ser.data.audio import load_audio
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def test_find_labels_sees_labels_only() -> None:
    assert find_labels(FlamForSequenceClassification) == ["labels"]


def test_a_plain_trainer_evaluates_with_loss_and_label_ids(tmp_path: Path) -> None:
    dataset = load_manifest(EXAMPLES / "manifest.csv")
    train, test = train_test_split_by_speakers(dataset, ["13"])
    names = label_names(dataset)
    feature_extractor = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    model_input_name = feature_extractor.model_input_names[0]

    # run_audio_classification.py's transforms: the encoder input and "labels", nothing else.
    def transforms(batch: dict) -> dict:
        waveforms = [load_audio(path) for path in batch["audio"]]
        inputs = feature_extractor(waveforms, sampling_rate=feature_extractor.sampling_rate)
        return {model_input_name: inputs.get(model_input_name), "labels": list(batch["label"])}

    train.set_transform(transforms)
    test.set_transform(transforms)

    def compute_metrics(eval_pred):  # the script's, with numpy for evaluate.load("accuracy")
        predictions = np.argmax(eval_pred.predictions, axis=1)
        return {"accuracy": float((predictions == eval_pred.label_ids).mean())}

    torch.manual_seed(0)
    config = FlamConfig(
        encoder_config=tiny_wavlm_config(),
        id2label=dict(enumerate(names)),
        label2id={name: index for index, name in enumerate(names)},
    )
    model = FlamForSequenceClassification(config)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            tmp_path,
            max_steps=3,
            per_device_train_batch_size=4,
            per_device_eval_batch_size=8,
            remove_unused_columns=False,  # the script's README passes it for set_transform
            report_to="none",
            use_cpu=True,
        ),
        train_dataset=train,
        eval_dataset=test,
        compute_metrics=compute_metrics,
        processing_class=feature_extractor,
    )
    assert trainer.label_names == ["labels"]
    trainer.train()
    metrics = trainer.evaluate()
    prediction = trainer.predict(test)
    assert "eval_loss" in metrics and np.isfinite(metrics["eval_loss"])
    # label_ids arrived: they are the test labels, and the accuracy is computed against them.
    np.testing.assert_array_equal(prediction.label_ids, np.asarray(test.with_format(None)["label"]))
    assert prediction.predictions.shape == (test.num_rows, len(names))  # logits only
    expected = float((prediction.predictions.argmax(1) == prediction.label_ids).mean())
    assert metrics["eval_accuracy"] == pytest.approx(expected)


def test_soft_labels_given_as_labels_fit_the_same_objective() -> None:
    """(batch, num_labels) float ``labels`` are soft labels (timm's convention): one-hot rows give
    the loss of the class indices, and a soft row gives the loss of ``soft_labels=`` beside its
    argmax as the hard label."""
    torch.manual_seed(0)
    model = FlamForSequenceClassification(
        FlamConfig(encoder_config=tiny_wavlm_config(), num_labels=3)
    ).eval()
    inputs = torch.randn(2, 8000) * 0.1
    hard = torch.tensor([0, 2])
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]])
    with torch.no_grad():
        by_index = model(inputs, labels=hard)
        one_hot = model(inputs, labels=torch.nn.functional.one_hot(hard, 3).float())
        # Soft labels in eval mode are a mixed evaluation batch: warned, whichever way given.
        with pytest.warns(UserWarning, match="not one-hot reached the model in eval mode"):
            as_labels = model(inputs, labels=soft)
        with pytest.warns(UserWarning, match="not one-hot reached the model in eval mode"):
            beside = model(inputs, labels=soft.argmax(1), soft_labels=soft)
    assert one_hot.loss.item() == pytest.approx(by_index.loss.item(), rel=1e-6)
    for name in ("loss", "kl_loss", "focal_loss", "center_loss", "supervised_contrastive_loss"):
        assert getattr(as_labels, name).item() == pytest.approx(getattr(beside, name).item())
    assert as_labels.kl_loss.item() != pytest.approx(by_index.kl_loss.item())


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.tensor([0.7, 1.9]), "labels must be \\(batch,\\) integer class indices"),
        (torch.tensor([[0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]), "row 0 sums to 1.5"),
        (torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), "row 0 sums to 0"),
        (torch.tensor([[float("nan"), 1.0, 0.0], [1.0, 0.0, 0.0]]), "NaN"),
        (torch.tensor([[-0.5, 1.5, 0.0], [1.0, 0.0, 0.0]]), "negative"),
    ],
)
def test_labels_that_are_neither_indices_nor_distributions_are_refused(labels, message) -> None:
    torch.manual_seed(0)
    model = FlamForSequenceClassification(
        FlamConfig(encoder_config=tiny_wavlm_config(), num_labels=3)
    )
    with pytest.raises(ValueError, match=message):
        model(torch.randn(2, 8000) * 0.1, labels=labels)


def test_forward_refuses_an_unknown_keyword_naming_it() -> None:
    model = FlamForSequenceClassification(
        FlamConfig(encoder_config=tiny_wavlm_config(), num_labels=3)
    )
    with pytest.raises(TypeError, match="soft_label'"):
        model(torch.randn(1, 8000), soft_label=torch.ones(1, 3) / 3)
