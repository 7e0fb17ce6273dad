"""eam_ser.models.flam.encoders: loading, freezing, the masked forward and frame masks of the speech
encoders, and the private transformers API they rely on (which must fail here, by name, when a
transformers release changes it)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version
from transformers import (
    Data2VecAudioConfig,
    HubertConfig,
    PretrainedConfig,
    Wav2Vec2Config,
    WavLMModel,
    WhisperModel,
)
from transformers.models.whisper.modeling_whisper import WhisperEncoderLayer

from conftest import TINY_CONV, tiny_wavlm_config
from eam_ser.models.flam import encoders
from eam_ser.models.flam.encoders import (
    build_encoder,
    encode_log_mel,
    may_skip_parameters,
    precomputed_output,
    waveform_frame_lengths,
    whisper_frame_lengths,
)
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from test_modeling_flam import ID2LABEL, pad_batch, tiny_model, waveforms
from test_whisper_flam import (
    FULL_MEL_FRAMES,
    padded_features,
    tiny_whisper_config,
    tiny_whisper_flam,
)

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
WAV2VEC_STYLE = [tiny_wavlm_config, Wav2Vec2Config, HubertConfig, Data2VecAudioConfig]


def wav2vec_style_config(config_class) -> PretrainedConfig:
    if config_class is tiny_wavlm_config:
        return tiny_wavlm_config()
    return config_class(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        feat_extract_norm="layer",
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        layerdrop=0.0,
        **TINY_CONV,
    )


# -- the private transformers API encoders.py relies on ---------------------------------------


@pytest.mark.parametrize("config_class", WAV2VEC_STYLE, ids=lambda c: getattr(c, "__name__", c))
def test_private_api_of_wav2vec_style_encoders_is_still_there(config_class):
    encoder = build_encoder(wav2vec_style_config(config_class))
    name = type(encoder).__name__
    lengths = getattr(encoder, "_get_feat_extract_output_lengths", None)
    assert callable(lengths), f"{name}._get_feat_extract_output_lengths is gone"
    first = next(iter(inspect.signature(lengths).parameters))
    assert first == "input_lengths", (
        f"{name}._get_feat_extract_output_lengths takes {first!r} first, not 'input_lengths'"
    )
    # (10, 3, 3) kernels, (5, 2, 2) strides: 400 -> 79 -> 39 -> 19 frames.
    assert lengths(torch.tensor([400, 40])).tolist() == [19, 1], (
        f"{name}._get_feat_extract_output_lengths no longer gives the CNN's frame count"
    )
    front_end = encoder.feature_extractor
    assert isinstance(getattr(front_end, "_requires_grad", None), bool), (
        f"{type(front_end).__name__}._requires_grad is gone"
    )
    assert "_requires_grad" in inspect.getsource(type(front_end).forward), (
        f"{type(front_end).__name__}.forward no longer reads _requires_grad"
    )
    for attribute in ("encoder.layers", "masked_spec_embed"):
        module = encoder
        for part in attribute.split("."):
            assert hasattr(module, part), f"{name}.{attribute} is gone"
            module = getattr(module, part)


def test_private_api_of_whisper_encoders_is_still_there():
    encoder = build_encoder(tiny_whisper_config())
    for attribute in ("conv1", "conv2", "embed_positions", "layers", "layer_norm"):
        assert isinstance(getattr(encoder, attribute, None), torch.nn.Module), (
            f"WhisperEncoder.{attribute} is gone"
        )
    assert isinstance(getattr(encoder, "dropout", None), float), (
        "WhisperEncoder.dropout is no longer the dropout probability"
    )
    assert isinstance(encoder.config.max_source_positions, int)
    parameters = list(inspect.signature(WhisperEncoderLayer.forward).parameters)
    assert parameters[1:3] == ["hidden_states", "attention_mask"], (
        f"WhisperEncoderLayer.forward takes {parameters[1:3]}, not (hidden_states, attention_mask)"
    )


def test_private_attention_implementation_attribute_is_still_there():
    config = tiny_wavlm_config()
    assert isinstance(config._attn_implementation, str | None), (
        "PretrainedConfig._attn_implementation is gone"
    )
    config._attn_implementation = "eager"
    assert config._attn_implementation == "eager", (
        "PretrainedConfig._attn_implementation can no longer be set"
    )


def test_transformers_is_bounded_below_the_next_major_version():
    requirement = Requirement(
        re.search(r'"(transformers\s*[<>=~!][^"]*)"', PYPROJECT.read_text())[1]
    )
    installed = Version(importlib.metadata.version("transformers"))
    upper = [spec for spec in requirement.specifier if spec.operator == "<"]
    assert upper, "pyproject.toml must bound transformers from above (private API in encoders)"
    assert installed in requirement.specifier
    assert Version(upper[0].version) <= Version(f"{installed.major + 1}")


# Every private transformers name a module of eam_ser touches: an underscore attribute, method
# or class attribute of a transformers object, read, set, overridden or declared on a subclass.
# Name -> (a transformers class that holds it, where eam_ser uses it and why). A transformers
# release may change any of them without a deprecation; the tests above pin the ones encoders.py
# drives by hand, the tests of the trainer and the pipeline exercise the rest.
PRIVATE_TRANSFORMERS_NAMES = {
    "_attn_implementation": (
        "transformers.PretrainedConfig",
        "encoders.py: the attention implementation an encoder was loaded with, recorded on the "
        "FLAM config so a reload uses the same",
    ),
    "_get_feat_extract_output_lengths": (
        "transformers.WavLMModel",
        "encoders.py: the CNN front end's samples -> frames arithmetic, for the frame mask",
    ),
    "_requires_grad": (
        "transformers.models.wavlm.modeling_wavlm.WavLMFeatureEncoder",
        "encoders.py: (un)freezing the CNN front end; transformers has no public way to set "
        "it back",
    ),
    "_init_weights": (
        "transformers.PreTrainedModel",
        "modeling_flam.py: the head's initialisation, the hook transformers calls on every "
        "module not loaded from a checkpoint",
    ),
    "_supports_sdpa": (
        "transformers.PreTrainedModel",
        "modeling_flam.py: declares that the FLAM head runs under the SDPA attention "
        "implementation",
    ),
    "_get_train_sampler": (
        "transformers.Trainer",
        "training/trainer.py: the class-balanced sampler (balanced_sampling)",
    ),
    "_save_rng_state": (
        "transformers.Trainer",
        "training/trainer.py: saves the collator's state with every checkpoint's RNG state",
    ),
    "_batch_size": (
        "transformers.Pipeline",
        "inference/pipeline.py: the pipeline's batch_size, passed to the EmotionRecognizer",
    ),
    "_forward": (
        "transformers.Pipeline",
        "inference/pipeline.py: the pipeline's model step (a subclass must define it)",
    ),
    "_sanitize_parameters": (
        "transformers.Pipeline",
        "inference/pipeline.py: the call options split into preprocess/forward/postprocess "
        "(a subclass must define it)",
    ),
    "_preprocess_params": (
        "transformers.Pipeline",
        "inference/pipeline.py: the options given when the pipeline was built, merged into "
        "each call's",
    ),
    "_postprocess_params": (
        "transformers.Pipeline",
        "inference/pipeline.py: the options given when the pipeline was built, merged into "
        "each call's",
    ),
    "_load_feature_extractor": (
        "transformers.Pipeline",
        "inference/pipeline.py: pipeline() loads the model's feature extractor",
    ),
    "_load_processor": (
        "transformers.Pipeline",
        "inference/pipeline.py: pipeline() loads no processor (a feature extractor alone)",
    ),
    "_load_image_processor": (
        "transformers.Pipeline",
        "inference/pipeline.py: pipeline() loads no image processor",
    ),
    "_load_tokenizer": (
        "transformers.Pipeline",
        "inference/pipeline.py: pipeline() loads no tokenizer",
    ),
}
# Private names of other libraries the same scan finds (kept apart: not transformers').
OTHER_PRIVATE_NAMES = {
    "_actions": (
        "argparse.ArgumentParser",
        "cli/__init__.py: the flags a parser declares, to tell a flag from an argument",
    ),
}
# Names imported from transformers that its top-level namespace does not export (a submodule's
# internals), full path -> where eam_ser uses it and why.
INTERNAL_TRANSFORMERS_IMPORTS = {
    "transformers.configuration_utils.SubConfigSpec": (
        "configuration_flam.py: declares encoder_config as a nested config built through "
        "AutoConfig (WavLM by default)"
    ),
    "transformers.models.whisper.modeling_whisper.WhisperEncoder": (
        "encoders.py: the Whisper encoder whose modules encode_log_mel drives one by one"
    ),
    "transformers.pipelines.PIPELINE_REGISTRY": (
        "inference/pipeline.py: registers the speech-emotion-recognition task"
    ),
    "transformers.utils.ModelOutput": "modeling_flam.py: base of FlamSequenceClassifierOutput",
    "transformers.utils.can_return_tuple": (
        "modeling_flam.py: forward returns a tuple when return_dict=False"
    ),
    "transformers.trainer_utils.seed_worker": (
        "training/trainer.py: seeds the workers of the batches-by-duration loader as Trainer "
        "seeds its own"
    ),
    "transformers.initialization": (
        "modeling_flam.py: _init_weights' initialisers, which skip weights loaded from a checkpoint"
    ),
}
SOURCE_DIR = Path(encoders.__file__).parents[2]  # src/eam_ser


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _on_self(node: ast.AST) -> bool:
    """`self.x`, `cls.x` or `super().x`."""
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "super"
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _private_attributes(tree: ast.AST):
    """(name, object node, stored) of every `obj._name` and `getattr(obj, "_name")`-style use."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            yield node.attr, node.value, isinstance(node.ctx, ast.Store)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            yield node.args[1].value, node.args[0], node.func.id == "setattr"


def _defines(owner: type, name: str) -> bool:
    """Whether a class of `owner`'s MRO has `name` as a class attribute or sets `self.name`."""
    for base in owner.__mro__:
        if name in vars(base):
            return True
        try:
            source = Path(inspect.getsourcefile(base)).read_text()
        except TypeError:  # a builtin (object)
            continue
        if re.search(rf"\bself\.{name}\b", source):
            return True
    return False


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _private_transformers_use() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(private name -> modules, internal import -> modules) over every module of eam_ser.

    A private name counts when a class derived from a transformers class defines, overrides,
    reads or sets one its transformers bases hold, or when any module reads or sets an
    underscore attribute that eam_ser itself never defines (a function, class, variable,
    argument, module or `self.` attribute of its own)."""
    import transformers

    trees = {_module_name(path): ast.parse(path.read_text()) for path in SOURCE_DIR.rglob("*.py")}
    own = set()
    for module, tree in trees.items():
        own.add(module.rpartition(".")[2])
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                own.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
            elif isinstance(node, ast.alias):
                own.add((node.asname or node.name).partition(".")[0])
        own.update(
            name for name, obj, stored in _private_attributes(tree) if stored and _on_self(obj)
        )
    names: dict[str, set[str]] = {}
    imports: dict[str, set[str]] = {}
    for module, tree in trees.items():
        # Names bound by imports from transformers or eam_ser, or classes of this module: a
        # class with such a base may derive from a transformers class.
        related = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (
                node.level or (node.module or "").partition(".")[0] in ("transformers", "eam_ser")
            ):
                related.update(alias.asname or alias.name for alias in node.names)
            if isinstance(node, ast.ImportFrom) and not node.level:
                parts = (node.module or "").split(".")
                if parts[0] == "transformers":
                    for alias in node.names:
                        path = ".".join([*parts, alias.name])
                        if alias.name not in transformers.__all__ or any(
                            _is_private(part) for part in parts
                        ):
                            imports.setdefault(path, set()).add(module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == "transformers" and any(_is_private(p) for p in parts):
                        imports.setdefault(alias.name, set()).add(module)
        for node in tree.body:
            roots = {ast.unparse(base).partition(".")[0] for base in getattr(node, "bases", ())}
            if not isinstance(node, ast.ClassDef) or not roots & related:
                continue
            cls = getattr(importlib.import_module(module), node.name)
            bases = [b for b in cls.__mro__ if b.__module__.partition(".")[0] == "transformers"]
            used = {
                name
                for child in node.body
                for name in (
                    [child.name]
                    if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                    else [
                        t.id
                        for t in getattr(child, "targets", [getattr(child, "target", None)])
                        if isinstance(t, ast.Name)
                    ]
                )
                if _is_private(name)
            }
            used.update(name for name, obj, _ in _private_attributes(node) if _on_self(obj))
            for name in used:
                if any(_defines(base, name) for base in bases):
                    names.setdefault(name, set()).add(module)
        for name, _, _ in _private_attributes(tree):
            if name not in own:
                names.setdefault(name, set()).add(module)
    return names, imports


def test_every_private_transformers_name_eam_ser_uses_is_declared():
    names, imports = _private_transformers_use()
    declared = {**PRIVATE_TRANSFORMERS_NAMES, **OTHER_PRIVATE_NAMES}
    undeclared = {name: sorted(names[name]) for name in names.keys() - declared.keys()}
    assert not undeclared, f"private API used but not declared in this test: {undeclared}"
    assert names.keys() == declared.keys(), (
        f"declared but no longer used: {sorted(declared.keys() - names.keys())}"
    )
    undeclared = {
        path: sorted(imports[path])
        for path in imports.keys() - INTERNAL_TRANSFORMERS_IMPORTS.keys()
    }
    assert not undeclared, f"transformers internals imported but not declared: {undeclared}"
    assert imports.keys() == INTERNAL_TRANSFORMERS_IMPORTS.keys(), (
        f"declared but no longer imported: "
        f"{sorted(INTERNAL_TRANSFORMERS_IMPORTS.keys() - imports.keys())}"
    )


def test_declared_private_transformers_names_are_where_declared():
    for name, (owner, reason) in {**PRIVATE_TRANSFORMERS_NAMES, **OTHER_PRIVATE_NAMES}.items():
        assert reason.strip(), name
        cls = _resolve(owner)
        assert _defines(cls, name), f"{owner} no longer holds {name}"
        in_transformers = cls.__module__.partition(".")[0] == "transformers"
        assert in_transformers == (name in PRIVATE_TRANSFORMERS_NAMES), (name, owner)
    for path, reason in INTERNAL_TRANSFORMERS_IMPORTS.items():
        assert reason.strip(), path
        try:
            _resolve(path)
        except AttributeError:  # a submodule
            importlib.import_module(path)


# -- frame masks ------------------------------------------------------------------------------


def test_waveform_frame_lengths_clamp_an_empty_row_to_zero():
    encoder = build_encoder(tiny_wavlm_config())
    assert waveform_frame_lengths(encoder, torch.tensor([0, 39, 40, 400])).tolist() == [0, 0, 1, 19]


def test_precomputed_output_checks_shapes_and_gives_the_frame_mask():
    states = torch.zeros(2, 5, 32)
    assert bool(precomputed_output(states, None, 32).frame_mask.all())
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert precomputed_output(states, mask, 32).frame_mask.sum().item() == 8
    with pytest.raises(ValueError, match=r"\(batch, frames, 16\)"):
        precomputed_output(states, None, 16)
    with pytest.raises(ValueError, match="frame mask"):
        precomputed_output(states, mask[:, :4], 32)


# -- wav2vec-style encoders -------------------------------------------------------------------


def test_freezing_policy():
    model = tiny_model()
    feature_encoder = list(model.encoder.feature_extractor.parameters())
    assert not any(p.requires_grad for p in feature_encoder)
    assert all(p.requires_grad for p in model.encoder.encoder.parameters())
    model.freeze_encoder()
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert (
        all(p.requires_grad for p in model.flam.parameters()) and model.class_centers.requires_grad
    )
    model.unfreeze_encoder()
    assert all(p.requires_grad for p in model.encoder.encoder.parameters())
    assert not any(p.requires_grad for p in feature_encoder)
    always_frozen = tiny_model(freeze_encoder_steps=-1)
    assert not any(p.requires_grad for p in always_frozen.encoder.parameters())
    trainable_front = tiny_model(freeze_feature_encoder=False)
    assert all(p.requires_grad for p in trainable_front.encoder.parameters())


def test_group_norm_encoder_gets_no_attention_mask_but_flam_masks():
    model = tiny_model(encoder_config=tiny_wavlm_config(feat_extract_norm="group"))
    assert not model.encoder_takes_attention_mask
    values, mask = pad_batch(waveforms(4000, 2000))
    with torch.no_grad():
        output = model(values, attention_mask=mask, output_attentions=True)
    valid = int(model.encoder._get_feat_extract_output_lengths(torch.tensor(2000)))
    assert output.frame_attention[1, valid:].abs().max() == 0


@pytest.mark.parametrize(
    ("config_class", "padding_invariant"),
    # data2vec-audio's stacked positional convolutions read the padded frames (transformers
    # zeroes them only before the first one), so only its shapes are checked.
    [(Wav2Vec2Config, True), (HubertConfig, True), (Data2VecAudioConfig, False)],
)
def test_other_wav2vec_style_encoders(config_class, padding_invariant):
    encoder_config = wav2vec_style_config(config_class)
    model = tiny_model(encoder_config=encoder_config)
    long_clip, short_clip = waveforms(5000, 2500)
    values, mask = pad_batch([long_clip, short_clip])
    with torch.no_grad():
        batch_logits = model(values, attention_mask=mask).logits
        alone_logits = model(short_clip[None]).logits
    assert batch_logits.shape == (2, 4) and torch.isfinite(batch_logits).all()
    if padding_invariant:
        torch.testing.assert_close(batch_logits[1], alone_logits[0], atol=1e-5, rtol=0)


def test_from_encoder_keeps_pretrained_weights(tmp_path):
    torch.manual_seed(3)
    encoder = WavLMModel(tiny_wavlm_config())
    encoder.save_pretrained(tmp_path)
    model = FlamForSequenceClassification.from_encoder(
        tmp_path, id2label=ID2LABEL, pooling="mean", embedding_size=8, flam_num_attention_heads=4
    )
    for name, tensor in encoder.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[name], tensor, atol=0, rtol=0)
    assert model.config.label2id == {"angry": 0, "happy": 1, "neutral": 2, "sad": 3}
    assert (model.config.pooling, model.classifier.weight.shape) == ("mean", (4, 8))
    assert model.class_centers.std() < 0.1 and model.class_centers.abs().sum() > 0
    with pytest.raises(TypeError, match="poolng"):
        FlamForSequenceClassification.from_encoder(tmp_path, num_labels=2, poolng="mean")


def test_layerdrop_and_a_trainable_mask_embedding_may_skip_parameters():
    assert may_skip_parameters(build_encoder(tiny_wavlm_config())) is True  # masked_spec_embed
    frozen = build_encoder(tiny_wavlm_config(layerdrop=0.1))
    frozen.requires_grad_(False)
    assert may_skip_parameters(frozen) is False
    assert may_skip_parameters(build_encoder(tiny_whisper_config())) is False


# -- Whisper ----------------------------------------------------------------------------------


def test_whisper_frame_lengths_are_half_the_mel_frames_rounded_up():
    assert whisper_frame_lengths(torch.tensor([0, 1, 2, 3, 200, 3000])).tolist() == [
        0,
        1,
        1,
        2,
        100,
        1500,
    ]


def test_full_length_encoding_matches_transformers_whisper_encoder():
    model = tiny_whisper_flam()
    features, _ = padded_features([FULL_MEL_FRAMES], num_mel_bins=16)
    with torch.no_grad():
        ours, hidden_states, _, frame_mask = encode_log_mel(model.encoder, features, None)
        reference = model.encoder(features).last_hidden_state
    assert ours.shape == (1, 1500, 32) and len(hidden_states) == 3 and bool(frame_mask.all())
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_gradient_checkpointing_and_freezing():
    model = tiny_whisper_flam().train()
    assert (
        not model.encoder.conv1.weight.requires_grad
        and not model.encoder.conv2.weight.requires_grad
    )
    model.activation_checkpointing_enable()
    features, mask = padded_features([150, 90], num_mel_bins=16)
    model(input_features=features, attention_mask=mask, labels=torch.tensor([0, 1])).loss.backward()
    assert model.encoder.layers[0].fc1.weight.grad.abs().sum() > 0
    model.freeze_encoder()
    model.unfreeze_encoder()
    assert model.encoder.layers[0].fc1.weight.requires_grad
    assert (
        not model.encoder.embed_positions.weight.requires_grad
        and not model.encoder.conv1.weight.requires_grad
    )


def test_from_encoder_takes_the_encoder_of_a_whisper_model_checkpoint(tmp_path):
    torch.manual_seed(5)
    whisper = WhisperModel(tiny_whisper_config())
    whisper.save_pretrained(tmp_path)
    model = FlamForSequenceClassification.from_encoder(
        tmp_path, num_labels=2, flam_num_attention_heads=4
    )
    for name, tensor in whisper.encoder.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[name], tensor, atol=0, rtol=0)
    assert not any(name.startswith("decoder") for name in model.state_dict())
