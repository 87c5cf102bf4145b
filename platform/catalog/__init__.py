"""Plugin catalog: registration decorators, entry-point discovery, hyperparameter schemas."""

from plexus.platform.catalog._registry import (
    DATASET_GROUP,
    MODEL_GROUP,
    Catalog,
    DatasetEntry,
    DatasetInfo,
    ModelEntry,
    ModelInfo,
    get_catalog,
    register_dataset,
    register_model,
)
from plexus.platform.catalog._schema import HParam, HParamSchema, did_you_mean, schema_from_callable

__all__ = [
    "DATASET_GROUP",
    "MODEL_GROUP",
    "Catalog",
    "DatasetEntry",
    "DatasetInfo",
    "HParam",
    "HParamSchema",
    "ModelEntry",
    "ModelInfo",
    "did_you_mean",
    "get_catalog",
    "register_dataset",
    "register_model",
    "schema_from_callable",
]
