"""Features: the data contract and everything that turns canonical tables into model inputs.

``features`` is the lowest package; every other one may import it, it imports none of them. It
owns the canonical schemas and their validation, ingest into the Parquet store, the task
config (what to forecast, parsed once into typed, frozen models), the error classes every
package raises, and the one feature pipeline both training (many origins) and serving (one
origin) call.

Import from here, not from the modules: this list is the package's public surface, and the
layer test (``tests/contract/test_layers.py``) refuses an import that reaches past it.
"""

from features import holidays
from features.adapters import ADAPTERS, AdapterOptions, ingest_format
from features.calendar import CALENDAR_FEATURES, calendar_columns
from features.cli import (
    USER_ERROR_EXIT,
    data_option,
    out_option,
    reports_errors,
    task_option,
)
from features.cli import features as features_command
from features.cli import ingest as ingest_command
from features.covariates import covariate_memory
from features.coverage import SparseFeature, describe_sparse, feature_null_shares, sparse_features
from features.day_calendar import CHINA_ONLY, DayCalendar
from features.durations import Duration, format_duration, parse_duration
from features.errors import (
    CitybrainError,
    ConfigError,
    DataError,
    LeakageError,
    NotFittedError,
    NotFoundError,
)
from features.feature_spec import FeatureSpec
from features.grid import floor_to_grid, punctual, regular_grid, steps, time_span
from features.history import TargetHistory, target_history
from features.ingest import (
    IngestReport,
    MergeCounts,
    MergePlan,
    apply_merge,
    ingest_files,
    merge,
    plan_merge,
)
from features.links import select_targets
from features.pipeline import (
    KEY_COLUMNS,
    build_features,
    linked_covariates,
    lookback,
    observed_targets,
    origin_range,
)
from features.quality import QualityReport, quality_report
from features.schemas import (
    EVENT_SOURCES,
    KEYS,
    LOCAL_TZ,
    SCHEMAS,
    SIGNALS,
    TABLES,
    UTC_TS,
    SignalSpec,
    conform,
)
from features.store import Store
from features.tables import CityTables
from features.task_tables import LATEST, TaskTables, data_end, data_span, task_tables
from features.tasks import (
    EventCounts,
    FeatureRecipe,
    ForecastCovariate,
    LinkedCovariate,
    ModelSpec,
    PromotionSpec,
    TaskConfig,
    WindowStat,
    load_task,
    parse_task,
    shipped_tasks_dir,
)
from features.threads import busy_machine_hint, thread_budget
from features.travel import estimate_travel
from features.validation import validate
from features.warning_config import (
    CongestionSpec,
    SurgeSpec,
    WarningLevelSpec,
    WarningSpec,
)
from features.warning_thresholds import threshold_column, warning_memory, warning_thresholds

__all__ = [
    "ADAPTERS",
    "CALENDAR_FEATURES",
    "CHINA_ONLY",
    "EVENT_SOURCES",
    "KEYS",
    "KEY_COLUMNS",
    "LATEST",
    "LOCAL_TZ",
    "SCHEMAS",
    "SIGNALS",
    "TABLES",
    "USER_ERROR_EXIT",
    "UTC_TS",
    "AdapterOptions",
    "CityTables",
    "CitybrainError",
    "ConfigError",
    "CongestionSpec",
    "DataError",
    "DayCalendar",
    "Duration",
    "EventCounts",
    "FeatureRecipe",
    "FeatureSpec",
    "ForecastCovariate",
    "IngestReport",
    "LeakageError",
    "LinkedCovariate",
    "MergeCounts",
    "MergePlan",
    "ModelSpec",
    "NotFittedError",
    "NotFoundError",
    "PromotionSpec",
    "QualityReport",
    "SignalSpec",
    "SparseFeature",
    "Store",
    "SurgeSpec",
    "TargetHistory",
    "TaskConfig",
    "TaskTables",
    "WarningLevelSpec",
    "WarningSpec",
    "WindowStat",
    "apply_merge",
    "build_features",
    "busy_machine_hint",
    "calendar_columns",
    "conform",
    "covariate_memory",
    "data_end",
    "data_option",
    "data_span",
    "describe_sparse",
    "estimate_travel",
    "feature_null_shares",
    "features_command",
    "floor_to_grid",
    "format_duration",
    "holidays",
    "ingest_command",
    "ingest_files",
    "ingest_format",
    "linked_covariates",
    "load_task",
    "lookback",
    "merge",
    "observed_targets",
    "origin_range",
    "out_option",
    "parse_duration",
    "parse_task",
    "plan_merge",
    "punctual",
    "quality_report",
    "regular_grid",
    "reports_errors",
    "select_targets",
    "shipped_tasks_dir",
    "sparse_features",
    "steps",
    "target_history",
    "task_option",
    "task_tables",
    "thread_budget",
    "threshold_column",
    "time_span",
    "validate",
    "warning_memory",
    "warning_thresholds",
]
