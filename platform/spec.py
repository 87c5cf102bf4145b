"""The data specification handed to every model.

Models never open files: the data service describes what it will feed them with
a :class:`DataSpec`, and the model sizes its embeddings / layers from it.

Batch formats per task kind (what ``forward`` receives):

* ``ctr`` / ``multitask``: ``dict[str, Tensor]`` keyed by field name.
  categorical ``LongTensor[B]``; numeric ``FloatTensor[B]``; multi-valued and
  sequence ``LongTensor[B, L]`` (0 = padding). Labels are *not* in the batch
  the model sees.
* ``node``: a PyG ``Data`` with ``x [N, F]`` and ``edge_index [2, E]``.
* ``link``: a PyG ``Data`` (the message-passing graph) with an extra
  ``edge_label_index [2, P]``: the pairs to score.
* ``graph``: a PyG ``Batch`` with ``x``, ``edge_index``, ``batch``.
* ``dynlink`` / ``edge``: a :class:`SnapshotBatch` (see ``plexus.platform.data``).

Outputs: ``forward`` returns a dict of tensors. ``ctr``: ``{"logit": [B]}``;
``multitask``: ``{task_name: [B]}`` (logits); ``node``: ``{"logit": [N, C]}``;
``link``: ``{"logit": [P]}``; ``graph``: ``{"logit": [G, C]}``; ``edge``:
``{"logit": [P, C]}``; ``dynlink``: ``{"logit": [P]}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["FieldSpec", "DataSpec", "TASK_KINDS", "FieldKind"]

TASK_KINDS = ("ctr", "multitask", "link", "dynlink", "edge", "node", "graph")
FieldKind = Literal["categorical", "numeric", "multi", "sequence"]


@dataclass(frozen=True)
class FieldSpec:
    """One input field of a tabular / sequence dataset.

    Args:
        name: column name.
        kind: ``categorical`` | ``numeric`` | ``multi`` (multi-valued) | ``sequence``.
        vocab_size: number of embedding rows, padding (0) and OOV (1) included;
            0 for numeric fields.
        max_len: length of the padded ``[B, L]`` tensor for multi / sequence fields.
        share_vocab: name of the field whose vocabulary (and embedding table) this
            field shares, e.g. a behaviour sequence sharing the item id's.
        role: free tag used by models (``"user"``, ``"item"``, ``"behavior"``, ``"context"``).
    """

    name: str
    kind: FieldKind
    vocab_size: int = 0
    max_len: int = 1
    share_vocab: str | None = None
    role: str | None = None

    @property
    def embedding_key(self) -> str:
        """Name of the embedding table this field reads from."""
        return self.share_vocab or self.name


@dataclass
class DataSpec:
    """What the data service tells a model about its inputs.

    Tabular fields: ``fields``, ``tasks`` (label names; one for ``ctr``).
    Graph fields: ``num_features``, ``num_classes``, ``num_nodes``, ``num_edge_features``.
    ``extra`` carries dataset-specific facts (e.g. behaviour types for DTRN).
    """

    task: str
    fields: list[FieldSpec] = field(default_factory=list)
    tasks: list[str] = field(default_factory=lambda: ["label"])
    num_features: int = 0
    num_classes: int = 0
    num_nodes: int = 0
    num_edge_features: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def fields_of(self, *kinds: str) -> list[FieldSpec]:
        return [f for f in self.fields if f.kind in kinds]

    def vocab_sizes(self) -> dict[str, int]:
        """Embedding tables to build: one per distinct ``embedding_key``."""
        sizes: dict[str, int] = {}
        for f in self.fields:
            if f.kind != "numeric":
                sizes[f.embedding_key] = max(sizes.get(f.embedding_key, 0), f.vocab_size)
        return sizes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d)
        d["fields"] = [FieldSpec(**f) for f in d.get("fields", [])]
        return cls(**d)
