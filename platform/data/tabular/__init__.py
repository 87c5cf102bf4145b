"""Tabular data service: YAML schema, readers, encoder, cache, splits and streaming.

Typical use::

    schema = Schema.from_yaml("clicks.yaml")
    ds = load_tabular(["clicks.csv"], schema, name="clicks")   # cached, split, encoded
    batch = ds.encoder.transform(raw_rows_dataframe)           # score new raw rows
"""

from plexus.platform.data.tabular.cache import cache_path, fingerprint, load_cached, save_cached
from plexus.platform.data.tabular.encoder import ENCODER_VERSION, EncodedTable, TabularEncoder
from plexus.platform.data.tabular.pipeline import fit_encoder_parquet, iter_parquet_batches, load_tabular
from plexus.platform.data.tabular.readers import (
    RawTable,
    detect_format,
    read_libfm,
    read_parquet,
    read_table,
    read_text_table,
)
from plexus.platform.data.tabular.schema import FIELD_TYPES, TRANSFORMS, FieldDef, LabelDef, Schema
from plexus.platform.data.tabular.splits import (
    leave_last_out_split,
    make_split,
    random_split,
    time_split,
    user_split,
)

__all__ = [
    "ENCODER_VERSION",
    "FIELD_TYPES",
    "TRANSFORMS",
    "EncodedTable",
    "FieldDef",
    "LabelDef",
    "RawTable",
    "Schema",
    "TabularEncoder",
    "cache_path",
    "detect_format",
    "fingerprint",
    "fit_encoder_parquet",
    "iter_parquet_batches",
    "leave_last_out_split",
    "load_cached",
    "load_tabular",
    "make_split",
    "random_split",
    "read_libfm",
    "read_parquet",
    "read_table",
    "read_text_table",
    "save_cached",
    "time_split",
    "user_split",
]
