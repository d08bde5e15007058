# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared fixtures for the unit tests of the collection.

With plain ``pytest`` (outside ``ansible-test units``), the directory that holds
``ansible_collections/`` is put on ``sys.path`` so that
``ansible_collections.hna.cloudos`` can be imported next to any other installed
``ansible_collections`` namespace package.
"""

from __future__ import annotations

import json
import sys

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve()
_COLLECTIONS_ROOT = _HERE.parents[5]  # .../<root>/ansible_collections/hna/cloudos/tests/unit/conftest.py
if _HERE.parents[4].name == 'ansible_collections' and str(_COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS_ROOT))

from ansible.module_utils import basic  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.testing import patch_module_args  # noqa: E402  pylint: disable=wrong-import-position


class ModuleExit(Exception):
    """Raised instead of ``exit_json``; ``result`` holds what the module returned."""

    def __init__(self, result):
        super().__init__(json.dumps(result, default=str))
        self.result = result


class ModuleFail(Exception):
    """Raised instead of ``fail_json``; ``result`` holds the message and the partial results."""

    def __init__(self, result):
        super().__init__(result.get('msg'))
        self.result = result


@pytest.fixture
def module_exits(monkeypatch):
    """Make ``AnsibleModule.exit_json``/``fail_json`` raise ``ModuleExit``/``ModuleFail``."""

    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs['msg'] = msg
        kwargs['failed'] = True
        raise ModuleFail(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    return ModuleExit, ModuleFail


@pytest.fixture
def module_args():
    """Return a context manager that hands its dictionary to the next ``AnsibleModule`` as module arguments."""
    return patch_module_args


@pytest.fixture
def clean_docker_env(monkeypatch):
    """Remove the Docker environment variables so that the defaults apply."""
    for name in ('DOCKER_HOST', 'DOCKER_TLS', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_TIMEOUT', 'DOCKER_API_VERSION'):
        monkeypatch.delenv(name, raising=False)
