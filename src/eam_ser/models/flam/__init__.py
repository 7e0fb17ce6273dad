"""FLAM: a pretrained speech encoder, Frame-Level Attention, pooling and the four-term MLL loss.

The files a saved folder carries as Hugging Face remote code (transformers copies a model file
and the modules it imports relatively, from this one folder, so these files import only each
other, torch, numpy and transformers; their names are kept so that saved folders of earlier
releases load):

- `configuration_flam`: `FlamConfig`;
- `modeling_flam`: `FlamForSequenceClassification` and its output class;
- `encoders`: loading, freezing and the masked forward of the wrapped encoder;
- `featurize`: padded waveforms to encoder inputs (log-mel for Whisper);
- `frame_attention`: the Frame-Level Attention Module and pooling;
- `losses` / `loss_settings`: the MLL terms and their weights;
- `settings_field`: how every settings dataclass of eam-ser declares a field.

May import: nothing of eam_ser outside this folder. The names below are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .configuration_flam import FlamConfig as FlamConfig
    from .configuration_flam import encoder_input_name_for as encoder_input_name_for
    from .configuration_flam import is_whisper as is_whisper
    from .encoders import WAVLM_MASK_WARNING as WAVLM_MASK_WARNING
    from .encoders import WHISPER_FRAME_STRIDE as WHISPER_FRAME_STRIDE
    from .encoders import WHISPER_SAMPLES_PER_MEL_FRAME as WHISPER_SAMPLES_PER_MEL_FRAME
    from .encoders import EncoderOutput as EncoderOutput
    from .encoders import apply_freezing_policy as apply_freezing_policy
    from .encoders import build_encoder as build_encoder
    from .encoders import check_input_name as check_input_name
    from .encoders import check_waveform_lengths as check_waveform_lengths
    from .encoders import configured_encoder as configured_encoder
    from .encoders import encode_inputs as encode_inputs
    from .encoders import encode_log_mel as encode_log_mel
    from .encoders import encode_waveform as encode_waveform
    from .encoders import freeze_encoder as freeze_encoder
    from .encoders import freeze_feature_encoder as freeze_feature_encoder
    from .encoders import freeze_lower_layers as freeze_lower_layers
    from .encoders import is_tracing as is_tracing
    from .encoders import load_pretrained_encoder as load_pretrained_encoder
    from .encoders import may_skip_parameters as may_skip_parameters
    from .encoders import precomputed_output as precomputed_output
    from .encoders import takes_attention_mask as takes_attention_mask
    from .encoders import unfreeze_encoder as unfreeze_encoder
    from .encoders import waveform_frame_lengths as waveform_frame_lengths
    from .encoders import whisper_frame_lengths as whisper_frame_lengths
    from .featurize import SAMPLING_RATE as SAMPLING_RATE
    from .featurize import WHISPER_MIN_INPUT_SAMPLES as WHISPER_MIN_INPUT_SAMPLES
    from .featurize import check_min_length as check_min_length
    from .featurize import is_log_mel_extractor as is_log_mel_extractor
    from .featurize import mel_frame_mask as mel_frame_mask
    from .featurize import min_input_samples as min_input_samples
    from .featurize import normalize_tensors as normalize_tensors
    from .featurize import stft_min_input_samples as stft_min_input_samples
    from .featurize import whisper_log_mel as whisper_log_mel
    from .frame_attention import CONTEXT_BROADCAST_WEIGHT as CONTEXT_BROADCAST_WEIGHT
    from .frame_attention import FrameLevelAttention as FrameLevelAttention
    from .frame_attention import FrameLevelAttentionLayer as FrameLevelAttentionLayer
    from .frame_attention import context_broadcast as context_broadcast
    from .frame_attention import frame_features as frame_features
    from .frame_attention import masked_mean as masked_mean
    from .frame_attention import masked_softmax as masked_softmax
    from .loss_settings import LOSS_TERMS as LOSS_TERMS
    from .loss_settings import MultiLossSettings as MultiLossSettings
    from .losses import SOFT_LABEL_TOLERANCE as SOFT_LABEL_TOLERANCE
    from .losses import CenterLoss as CenterLoss
    from .losses import MultiLoss as MultiLoss
    from .losses import MultiLossOutput as MultiLossOutput
    from .losses import center_loss as center_loss
    from .losses import check_distributions as check_distributions
    from .losses import (
        cross_process_supervised_contrastive_loss as cross_process_supervised_contrastive_loss,
    )
    from .losses import focal_loss as focal_loss
    from .losses import gather_with_gradients as gather_with_gradients
    from .losses import hard_and_soft_labels as hard_and_soft_labels
    from .losses import inverse_frequency_from_counts as inverse_frequency_from_counts
    from .losses import inverse_frequency_weights as inverse_frequency_weights
    from .losses import kl_divergence_loss as kl_divergence_loss
    from .losses import supervised_contrastive_loss as supervised_contrastive_loss
    from .modeling_flam import ENCODER_SAMPLING_RATE as ENCODER_SAMPLING_RATE
    from .modeling_flam import LOSS_TERM_OUTPUTS as LOSS_TERM_OUTPUTS
    from .modeling_flam import MIXED_EVALUATION_WARNING as MIXED_EVALUATION_WARNING
    from .modeling_flam import FlamForSequenceClassification as FlamForSequenceClassification
    from .modeling_flam import FlamSequenceClassifierOutput as FlamSequenceClassifierOutput
    from .settings_field import setting as setting

__getattr__, __dir__ = lazy_exports(__name__, __file__)
