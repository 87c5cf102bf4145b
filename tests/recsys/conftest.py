"""The recommender tests import their fit loops from ``fit_helpers.py`` beside them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
