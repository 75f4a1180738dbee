"""Imported first by every benchmark script: takes this folder off ``sys.path``, because it
holds ``http.py``, which would otherwise shadow the standard library's ``http``."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
