"""The ``plexus`` command line: a thin face over the services."""

import os
import warnings

# stderr is for one-line errors: MLflow's import-time notices and INFO logs stay out of it
warnings.filterwarnings("ignore", module=r"mlflow(\..*)?$")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

from plexus.cli._main import app, main  # noqa: E402

__all__ = ["app", "main"]
