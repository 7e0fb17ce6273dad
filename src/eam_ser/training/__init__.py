"""Training: the Trainer of the MLL objective and what a training run needs around it.

- `trainer`: `MultiLossTrainer` (per-term logs, cross-process contrastive loss, the centers'
  learning rate, exact resume);
- `arguments`: `MultiLossTrainingArguments`;
- `checkpoints`: what a checkpoint holds beyond Trainer's files, and whether it is complete;
- `class_balance`: focal alpha by inverse class frequency and the balanced sampler;
- `feature_cache`: encoder features computed once for a frozen encoder;
- `processes`: the processes of a run (which one is main, how the group ends).

May import: `eam_ser.models.flam`, `eam_ser.data`, `eam_ser.mixup`, `eam_ser.evaluation`. The
names below are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .arguments import INVERSE_FREQUENCY as INVERSE_FREQUENCY
    from .arguments import MultiLossTrainingArguments as MultiLossTrainingArguments
    from .arguments import resolve_learning_rates as resolve_learning_rates
    from .checkpoints import CHECKPOINT_ARCHIVES as CHECKPOINT_ARCHIVES
    from .checkpoints import COLLATOR_STATE_NAME as COLLATOR_STATE_NAME
    from .checkpoints import CollatorStateCheckpoint as CollatorStateCheckpoint
    from .checkpoints import checkpoint_problem as checkpoint_problem
    from .checkpoints import last_complete_checkpoint as last_complete_checkpoint
    from .checkpoints import safetensors_problem as safetensors_problem
    from .class_balance import balanced_sampler as balanced_sampler
    from .class_balance import dataset_labels as dataset_labels
    from .class_balance import inverse_frequency_alpha as inverse_frequency_alpha
    from .feature_cache import CachedFeatureCollator as CachedFeatureCollator
    from .feature_cache import EncoderFeatureCache as EncoderFeatureCache
    from .feature_cache import PartiallyCachedMixupCollator as PartiallyCachedMixupCollator
    from .feature_cache import encoder_is_frozen as encoder_is_frozen
    from .processes import end_process_group as end_process_group
    from .processes import is_main_process as is_main_process
    from .processes import process_state as process_state
    from .trainer import EncoderFreezeCallback as EncoderFreezeCallback
    from .trainer import MultiLossTrainer as MultiLossTrainer
    from .trainer import TrainingDivergedError as TrainingDivergedError

__getattr__, __dir__ = lazy_exports(__name__, __file__)
