"""Configuration of the FLAM speech-emotion model (pretrained speech encoder + Frame-Level Attention).

Importing this module registers `FlamConfig` with `transformers.AutoConfig` under
`model_type="flam"`, so `AutoConfig.from_pretrained(saved_dir)` returns a `FlamConfig`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .arguments import check_flag, check_integer, check_real
from .featurize import WHISPER_MIN_INPUT_SAMPLES, min_input_samples
from .loss_settings import MultiLossSettings

POOLING_MODES = ("attentive", "mean", "attentive_statistics")
ENCODER_INPUT_NAMES = ("input_values", "input_features")
# Encoders that take a log-mel spectrogram (`input_features`) rather than the waveform.
LOG_MEL_ENCODER_TYPES = ("whisper",)


def is_whisper(encoder_config: PretrainedConfig) -> bool:
    """Whether `encoder_config` is a Whisper config (log-mel input, `WhisperEncoder`): the one
    test of it in eam-ser."""
    return encoder_config.model_type in LOG_MEL_ENCODER_TYPES


def encoder_input_name_for(encoder_config: PretrainedConfig) -> str:
    """The forward argument an encoder reads: `"input_features"` (log-mel, Whisper) or
    `"input_values"` (raw waveform, wav2vec 2.0 / HuBERT / WavLM / data2vec-audio)."""
    if is_whisper(encoder_config):
        return "input_features"
    return "input_values"


@strict
class FlamConfig(PretrainedConfig):
    r"""Configuration of [`FlamForSequenceClassification`]: a pretrained speech encoder whose
    frame-level features pass through a Frame-Level Attention Module (FLAM), are pooled to one
    utterance vector, projected to an embedding (used by the center and supervised-contrastive
    losses) and classified.

    Args:
        encoder_config (`dict` or `PretrainedConfig`, *optional*, defaults to a default `WavLMConfig`):
            Configuration of the speech encoder, any transformers speech encoder: `wavlm`,
            `hubert`, `wav2vec2`, `data2vec-audio` (raw waveform input) or `whisper` (log-mel
            input; only its encoder is used). A `dict` must hold `model_type` and is built
            through `AutoConfig`.
        encoder_input_name (`str`, *optional*, defaults to `None`):
            Forward argument the encoder reads: `"input_values"` (waveform, (batch, samples))
            or `"input_features"` (log-mel, (batch, mel_bins, mel_frames)). `None` derives it
            from `encoder_config` (Whisper -> `"input_features"`, others -> `"input_values"`);
            an explicit value must agree with the encoder.
        use_weighted_layer_sum (`bool`, *optional*, defaults to `False`):
            Feed FLAM a learned softmax-weighted sum of all encoder hidden states (the
            embedding output plus every layer, as in SUPERB) instead of the last hidden state.
        flam_hidden_size (`int`, *optional*, defaults to `None`):
            Width of the FLAM layers. `None` runs FLAM at the encoder's hidden size; an integer
            adds a linear projection from the encoder width to this width before FLAM (cheaper
            attention on wide encoders such as WavLM Large, hidden size 1024).
        num_flam_layers (`int`, *optional*, defaults to 1):
            Number of FLAM self-attention blocks. `0` skips self-attention and only pools.
        flam_num_attention_heads (`int`, *optional*, defaults to 8):
            Attention heads per FLAM block; must divide the FLAM width.
        flam_intermediate_size (`int`, *optional*, defaults to `None`):
            Width of the FLAM feed-forward layer; `None` means 4 x the FLAM width.
        flam_dropout (`float`, *optional*, defaults to 0.1):
            Dropout probability on FLAM attention probabilities and residual branches.
        context_broadcasting (`bool`, *optional*, defaults to `True`):
            After each FLAM block replace every frame `x_t` by `0.5 * x_t + 0.5 * mean(x)`, the
            mean over the valid (non-padded) frames (Hyeon-Woo et al. 2022). Parameter-free.
        pooling (`str`, *optional*, defaults to `"attentive"`):
            How frames become one vector: `"attentive"` (learned softmax weights over valid
            frames), `"mean"` (average of valid frames) or `"attentive_statistics"` (weighted
            mean and weighted standard deviation, concatenated: twice the FLAM width).
        embedding_size (`int`, *optional*, defaults to 256):
            Size of the utterance embedding (output `embeddings`) fed to the classifier and to
            the center / supervised-contrastive losses; also the width of `class_centers`.
        final_dropout (`float`, *optional*, defaults to 0.1):
            Dropout probability on the embedding before the classifier.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the head's linear layers and of
            `class_centers`. The encoder keeps its own initialisation (or pretrained weights).
        freeze_feature_encoder (`bool`, *optional*, defaults to `True`):
            Keep the encoder's convolutional front end frozen (wav2vec-style CNN feature
            encoder; Whisper `conv1`/`conv2`), the usual recipe for fine-tuning.
        freeze_encoder_steps (`int`, *optional*, defaults to 0):
            Policy for the whole encoder: `0` = never frozen, `N > 0` = frozen for the first
            `N` optimizer steps (the trainer callback calls `freeze_encoder()` at the start and
            `unfreeze_encoder()` at step `N`), `-1` = always frozen (applied when the model is
            built; only the head trains).
        trainable_encoder_layers (`int`, *optional*, defaults to `None`):
            How much of the encoder trains while it is not frozen: `None` = all of it (except
            the front end when `freeze_feature_encoder`), `N >= 0` = only its top `N`
            transformer layers and the final layer norm (`0` = none: a frozen encoder). The
            layers below stay frozen for the whole run; fine-tuning the top layers of a
            pretrained encoder costs a fraction of full fine-tuning and overfits less.
        multi_loss (`dict`, *optional*, defaults to `None`):
            The training objective computed by the model's forward when `labels` are given:
            the fields of `eam_ser.models.flam.losses.MultiLossSettings` (`kl_weight` 1.0, `focal_weight`
            1.0, `center_weight` 0.01, `supcon_weight` 0.1, `focal_gamma` 2.0, `focal_alpha`
            None, `supcon_temperature` 0.07; defaults and their reasons are documented there).
            Keys left out take those defaults; after construction the dict holds every field,
            so `config.json` records the objective the model was trained with. A weight of 0
            leaves its term out.
        training_speakers (`list[str]`, *optional*, defaults to `None`):
            Speakers of the data the model was trained on (written by `eam_ser.experiment.crossval`
            training), so that `eam-ser evaluate` can warn when test data holds any of them.
            `None`: not recorded (a model trained elsewhere, or saved by eam-ser 0.3).
        score_temperature (`float`, *optional*, defaults to 1.0):
            Temperature of the class scores at inference: `EmotionRecognizer`, the pipeline,
            `eam-ser predict` and the ONNX backend report ``softmax(logits / T)``. Fitted by
            temperature scaling on validation speakers (`eam_ser.evaluation.calibration.fit_temperature`,
            never on test data) so that a score of 0.9 is right about 90 % of the time; the
            logits, the argmax and training are unaffected. 1: the plain softmax (a model
            trained without validation speakers, or saved by eam-ser 0.3).
        num_labels (`int`, *optional*, defaults to 2):
            Number of emotion classes; ignored when `id2label` is given.
        id2label (`dict[int, str]`, *optional*):
            Class index -> emotion name, used by pipelines and model cards.
        label2id (`dict[str, int]`, *optional*):
            Emotion name -> class index.

    Example:

    ```python
    >>> from transformers import WavLMConfig
    >>> from eam_ser.models.flam.configuration_flam import FlamConfig
    >>> config = FlamConfig(encoder_config=WavLMConfig(hidden_size=32), num_labels=4)
    >>> config.encoder_input_name
    'input_values'
    ```
    """

    model_type = "flam"
    # Outputs Trainer leaves out of predictions, so `compute_metrics` gets the logits alone.
    keys_to_ignore_at_inference: ClassVar[list[str]] = [
        "embeddings",
        "kl_loss",
        "focal_loss",
        "center_loss",
        "supervised_contrastive_loss",
        "frame_attention",
        "hidden_states",
        "attentions",
    ]
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="wavlm"),
    }

    encoder_config: dict | PretrainedConfig | None = None
    encoder_input_name: str | None = None
    use_weighted_layer_sum: bool = False
    flam_hidden_size: int | None = None
    num_flam_layers: int = 1
    flam_num_attention_heads: int = 8
    flam_intermediate_size: int | None = None
    flam_dropout: float | int = 0.1
    context_broadcasting: bool = True
    pooling: Literal["attentive", "mean", "attentive_statistics"] = "attentive"
    embedding_size: int = 256
    final_dropout: float | int = 0.1
    initializer_range: float = 0.02
    freeze_feature_encoder: bool = True
    freeze_encoder_steps: int = 0
    trainable_encoder_layers: int | None = None
    multi_loss: dict | None = None
    training_speakers: list[str] | None = None
    score_temperature: float = 1.0

    def __post_init__(self, **kwargs) -> None:
        if "num_labels" in kwargs:
            check_integer(kwargs["num_labels"], "num_labels", minimum=1)
        super().__post_init__(**kwargs)
        self._check_field_types()
        derived_input_name = encoder_input_name_for(self.encoder_config)
        if self.encoder_input_name is None:
            self.encoder_input_name = derived_input_name
        elif self.encoder_input_name != derived_input_name:
            raise ValueError(
                f"encoder_input_name={self.encoder_input_name!r} does not match the "
                f"{self.encoder_config.model_type!r} encoder, which reads {derived_input_name!r}"
            )
        if getattr(self.encoder_config, "add_adapter", False):
            raise ValueError("encoder_config.add_adapter=True is not supported by FLAM")
        width = self.flam_width
        if self.num_flam_layers > 0 and width % self.flam_num_attention_heads != 0:
            raise ValueError(
                f"flam_num_attention_heads={self.flam_num_attention_heads} must divide the FLAM "
                f"width {width} (flam_hidden_size or the encoder hidden size)"
            )
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        self.multi_loss = MultiLossSettings.from_dict(self.multi_loss).to_dict()
        layers = self.encoder_config.num_hidden_layers
        if self.trainable_encoder_layers is not None and not (
            0 <= self.trainable_encoder_layers <= layers
        ):
            raise ValueError(
                f"trainable_encoder_layers must be None (all) or between 0 and the encoder's "
                f"{layers} layers, got {self.trainable_encoder_layers}"
            )

    def _check_field_types(self) -> None:
        """Each scalar field's type, naming it: bools are not numbers, counts are integers."""
        for name in ("use_weighted_layer_sum", "context_broadcasting", "freeze_feature_encoder"):
            check_flag(getattr(self, name), name)
        for name, minimum in (
            ("num_flam_layers", 0),
            ("flam_num_attention_heads", 1),
            ("embedding_size", 1),
            ("freeze_encoder_steps", -1),
        ):
            check_integer(getattr(self, name), name, minimum=minimum)
        for name in ("flam_hidden_size", "flam_intermediate_size", "trainable_encoder_layers"):
            check_integer(getattr(self, name), name, minimum=0, allow_none=True)
        for name in ("flam_dropout", "final_dropout"):
            check_real(getattr(self, name), name, minimum=0.0, below=1.0)
        check_real(self.initializer_range, "initializer_range", minimum=0.0)
        check_real(self.score_temperature, "score_temperature", above=0.0)

    @property
    def loss_settings(self) -> MultiLossSettings:
        """`multi_loss` as a `MultiLossSettings`."""
        return MultiLossSettings.from_dict(self.multi_loss)

    @property
    def min_input_samples(self) -> int:
        """Shortest clip the encoder accepts, in samples at 16 kHz: the CNN receptive field of
        a wav2vec-style encoder (400 for the standard front end), 201 for Whisper's STFT."""
        if is_whisper(self.encoder_config):
            return WHISPER_MIN_INPUT_SAMPLES
        return min_input_samples(self.encoder_config.conv_kernel, self.encoder_config.conv_stride)

    @property
    def encoder_hidden_size(self) -> int:
        """Width of the encoder's frame features (`d_model` for Whisper)."""
        return self.encoder_config.hidden_size

    @property
    def flam_width(self) -> int:
        """Width of the FLAM blocks: `flam_hidden_size`, or the encoder hidden size if unset."""
        return self.flam_hidden_size or self.encoder_hidden_size

    @property
    def num_encoder_hidden_states(self) -> int:
        """Number of encoder hidden states (embedding output + one per layer), the length of
        the weighted layer sum."""
        return self.encoder_config.num_hidden_layers + 1


AutoConfig.register(FlamConfig.model_type, FlamConfig, exist_ok=True)

__all__ = ["FlamConfig", "encoder_input_name_for", "is_whisper", "min_input_samples"]
