"""The test suite (a package: its modules import the shared fixtures relatively).

The suite starts many Python processes (xdist workers, CLI runs, servers): with bytecode
caches they compile banditbot's modules once, not each in its own. This machine's image sets
PYTHONDONTWRITEBYTECODE=1 (the suite took 237 s, 229 s with the caches; ``__pycache__`` is
git-ignored). Set here, before the fixtures' imports: the workers start after them and find
what they imported compiled.
"""

import os
import sys

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
