"""The trained model as MLflow models.

``model``: the PyTorch flavour (``mlflow.pytorch.log_model``), with the data
specification beside it. ``scorer``: a pyfunc model that scores raw rows
(a pandas DataFrame with the dataset's original columns) for tabular tasks, by
applying the fitted encoder and the model: ``mlflow.pyfunc.load_model(
"runs:/<id>/scorer").predict(df)`` returns one probability column per task.
"""

from __future__ import annotations

import importlib
import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import torch
from mlflow.types.type_hints import TypeFromExample
from plexus.platform.catalog import schema_from_callable
from plexus.platform.data.tabular import TabularEncoder
from plexus.platform.spec import DataSpec
from plexus.platform.tracking._store import using_tracking_uri

__all__ = ["PlexusScorer", "log_trained_model"]



class PlexusScorer(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: raw rows -> encoded tensors -> model -> probabilities."""

    def load_context(self, context: Any) -> None:
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        module, _, name = meta["target"].partition(":")
        cls = getattr(importlib.import_module(module), name)
        self.spec = DataSpec.from_dict(meta["spec"])
        hparams = schema_from_callable(cls).validate(meta["hparams"], owner=meta["target"])
        self.model = cls(self.spec, **hparams)
        self.model.load_state_dict(torch.load(context.artifacts["state"], map_location="cpu", weights_only=True))
        self.model.eval()
        self.encoder = TabularEncoder.from_dict(meta["encoder"])
        self.outputs = ["logit"] if self.spec.task == "ctr" else list(self.spec.tasks)

    def predict(self, context: Any, model_input: TypeFromExample, params: dict[str, Any] | None = None) -> Any:
        """Score raw rows (a DataFrame of the original columns); ``TypeFromExample`` opts out of type validation."""
        import pandas as pd

        feats = self.encoder.transform(model_input)
        with torch.no_grad():
            out = self.model(feats)
        cols = {("probability" if k == "logit" else k): torch.sigmoid(out[k].float().view(-1)).numpy()
                for k in self.outputs}
        return pd.DataFrame(cols)


def log_trained_model(tracking_uri: str, run_id: str, model: torch.nn.Module, *, target: str,
                      hparams: dict[str, Any], spec: Any, encoder: Any = None) -> dict[str, str]:
    """Log the PyTorch model (and, for tabular data, the raw-row scorer) to run ``run_id``."""
    import mlflow
    import mlflow.pytorch

    import plexus

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")
    model = model.cpu().eval()
    # explicit requirements: MLflow's inference would reload the model in a subprocess
    reqs = [f"plexus-ml=={plexus.__version__}", f"torch=={torch.__version__.split('+')[0]}"]
    uris: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "data_spec.json"
        spec_path.write_text(json.dumps(spec.to_dict(), indent=1, default=str))
        meta = {"target": target, "hparams": hparams, "spec": spec.to_dict(),
                "encoder": encoder.to_dict() if encoder is not None else None}
        meta_path = Path(tmp) / "plexus_model.json"
        meta_path.write_text(json.dumps(meta, default=str))
        state_path = Path(tmp) / "state.pt"
        torch.save(model.state_dict(), state_path)
        with using_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id, log_system_metrics=False):
            info = mlflow.pytorch.log_model(model, name="model", extra_files=[str(spec_path), str(meta_path)],
                                            serialization_format="pickle", pip_requirements=reqs)
            uris["model"] = info.model_uri
            if encoder is not None and spec.task in ("ctr", "multitask"):
                info = mlflow.pyfunc.log_model(
                    name="scorer", python_model=PlexusScorer(),
                    artifacts={"meta": str(meta_path), "state": str(state_path)}, pip_requirements=reqs)
                uris["scorer"] = info.model_uri
            mlflow.set_tags({"plexus.model_uri": uris["model"], "plexus.scorer_uri": uris.get("scorer", "")})
    return uris
