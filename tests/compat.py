"""Where the peer test vectors live: ``$SHIPYARD_COMPAT_DIR``, default ``../shared/data/compat``.

The default is relative to the repository (CI clones it beside a copy of ``shared/``), so
any other vector set with the same file names and formats can be run by pointing the
variable at it. A missing directory is an error, not a skip: peer vectors must pass.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def compat_dir() -> Path:
    configured = os.environ.get("SHIPYARD_COMPAT_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "data" / "compat"
    if not path.is_dir():
        raise FileNotFoundError(
            f"peer test vectors not found at {path}: set SHIPYARD_COMPAT_DIR to the folder "
            "that holds expr_vectors.jsonl, argocd-health/, ..."
        )
    return path
