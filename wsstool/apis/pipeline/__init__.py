from .base_stage import (BaseStage, ConfigStage, StageFailed,
                         TrainedModelStage)
from .cam_stages import EvalCAMStage, InferCAMStage
from .context import PipelineContext
from .records import StageRecord, settings_hash
from .refine_stage import RefineStage
from .results import (METRIC_COLUMNS, RESULTS_FILE, collect_results,
                      format_duration, load_results, results_markdown,
                      save_results)
from .runner import build_stages, run_pipeline, run_stage
from .test_stage import TestStage
from .train_stage import TrainStage

__all__ = [
    'BaseStage', 'ConfigStage', 'StageFailed', 'TrainedModelStage', 'EvalCAMStage',
    'InferCAMStage', 'PipelineContext', 'StageRecord', 'settings_hash',
    'RefineStage', 'METRIC_COLUMNS', 'RESULTS_FILE', 'collect_results',
    'format_duration', 'load_results', 'results_markdown', 'save_results', 'build_stages', 'run_pipeline', 'run_stage', 'TestStage',
    'TrainStage'
]
