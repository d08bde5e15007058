"""Load one of the project's programs as a module for its unit tests, with or without a .py suffix (the scripts that
roles install keep the name they have on the host)."""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load(name, relative_path):
    """The program at ``relative_path`` (from the repository's root), run as the module ``name``."""
    loader = importlib.machinery.SourceFileLoader(name, str(REPO / relative_path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    sys.modules[name] = module
    loader.exec_module(module)
    return module
