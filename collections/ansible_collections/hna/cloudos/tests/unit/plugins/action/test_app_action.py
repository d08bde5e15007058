# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugin of hna.cloudos.app: finding and reading a catalog entry on the controller."""

from __future__ import annotations

import os

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.hna.cloudos.plugins.action import app


def test_the_collection_ships_its_catalog():
    assert os.path.isfile(os.path.join(app.COLLECTION_CATALOG, 'redis', '7.0.yml'))
    entry = app.read_entry(app.entry_path(app.COLLECTION_CATALOG, 'redis', '7.0'))
    assert entry['name'] == 'redis' and entry['version'] == '7.0'


def test_a_missing_version_names_the_versions_there_are(tmp_path):
    (tmp_path / 'redis').mkdir()
    (tmp_path / 'redis' / '7.0.yml').write_text('name: redis\n')
    (tmp_path / 'redis' / '7.2.yml').write_text('name: redis\n')
    with pytest.raises(AnsibleActionFail) as caught:
        app.entry_path(str(tmp_path), 'redis', '6.2')
    assert 'has no version 6.2 of redis (it has: 7.0, 7.2)' in caught.value.message


def test_a_missing_app_names_the_apps_there_are(tmp_path):
    (tmp_path / 'redis').mkdir()
    (tmp_path / 'nginx').mkdir()
    with pytest.raises(AnsibleActionFail) as caught:
        app.entry_path(str(tmp_path), 'postgres', '16')
    assert 'has no app postgres (it has: nginx, redis)' in caught.value.message


@pytest.mark.parametrize('name, version', [('../etc', '7.0'), ('redis', '../../passwd'), ('Redis', '7.0'), ('redis', '')])
def test_names_that_leave_the_catalog_are_refused(tmp_path, name, version):
    with pytest.raises(AnsibleActionFail) as caught:
        app.entry_path(str(tmp_path), name, version)
    assert 'is not a catalog' in caught.value.message


def test_an_entry_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / 'bad.yml'
    path.write_text('- just\n- a list\n')
    with pytest.raises(AnsibleActionFail) as caught:
        app.read_entry(str(path))
    assert 'is not a mapping' in caught.value.message
    path.write_text('key: [unclosed\n')
    with pytest.raises(AnsibleActionFail) as caught:
        app.read_entry(str(path))
    assert 'cannot read the catalog entry' in caught.value.message and '\n' not in caught.value.message
