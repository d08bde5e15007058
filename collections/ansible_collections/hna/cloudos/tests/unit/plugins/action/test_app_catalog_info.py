# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""hna.cloudos.app_catalog_info: the collection's own catalog, and catalogs with entries that are wrong."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hna.cloudos.plugins.action import app
from ansible_collections.hna.cloudos.plugins.action import app_catalog_info as info
from ansible_collections.hna.cloudos.plugins.module_utils._catalog import CatalogError

SHIPPED = ['activemq', 'jdk', 'mariadb', 'mongodb', 'nginx', 'redis', 'tomcat']

REDIS = '''
name: redis
version: "%s"
image: {repository: cloudos/redis, tag: "%s", digest: "%s"}
params:
  port: {type: port, default: 6379, description: Host port}
  password: {type: str, secret: true, required: true, description: AUTH password}
upgrades_from: %s
reach: {dns: "${app}.${namespace}:6379"}
compose:
  services:
    ${app}:
      image: ${image}
      ports: ["127.0.0.1:${port}:6379"]
      secrets: [pw]
  secrets:
    pw: {environment: password}
'''
DIGEST = 'sha256:' + 'ab' * 32


def write(directory, app_name, version, text):
    (directory / app_name).mkdir(exist_ok=True)
    (directory / app_name / ('%s.yml' % version)).write_text(text)


def test_the_shipped_catalog_lists_every_app_and_checks_clean():
    result = info.catalog_info(app.COLLECTION_CATALOG)
    assert result['problems'] == []
    assert [item['name'] for item in result['apps']] == SHIPPED
    redis = [item for item in result['apps'] if item['name'] == 'redis'][0]
    entry = redis['versions'][0]
    assert redis['latest'] == entry['version'] == '7.0'
    assert entry['image']['repository'] == 'cloudos/redis' and entry['image']['tag'] == '7.0'
    assert entry['params']['password']['secret'] and 'password' in entry['required'] and entry['secrets'] == ['password']
    assert entry['params']['port'] == dict(type='port', required=False, secret=False, default=6379,
                                           description=entry['params']['port']['description'])
    assert entry['path'].endswith('redis/7.0.yml')
    # Only plain data (Ansible refuses to keep anything else in a variable): the pattern as its text.
    assert entry['params']['bind_address']['pattern'] == '^[0-9.]+$'
    json.dumps(result)


def test_versions_sort_as_numbers_and_filters_keep_one(tmp_path):
    for version in ('7.10', '7.9', '7.0'):
        write(tmp_path, 'redis', version, REDIS % (version, version, DIGEST, '[]'))
    result = info.catalog_info(str(tmp_path))
    assert [v['version'] for v in result['apps'][0]['versions']] == ['7.0', '7.9', '7.10']
    assert result['apps'][0]['latest'] == '7.10'
    only = info.catalog_info(str(tmp_path), 'redis', '7.9')
    assert [v['version'] for v in only['apps'][0]['versions']] == ['7.9'] and not only.get('failed')


def test_the_digest_the_upgrade_path_and_the_secrets_are_returned(tmp_path):
    write(tmp_path, 'redis', '7.2', REDIS % ('7.2', '7.2', DIGEST, '["7.0"]'))
    entry = info.catalog_info(str(tmp_path))['apps'][0]['versions'][0]
    assert entry['pinned'] and entry['image']['digest'] == DIGEST and entry['upgrades_from'] == ['7.0']
    assert entry['params']['password'] == dict(type='str', required=True, secret=True, description='AUTH password')
    assert entry['secrets'] == entry['required'] == ['password'] and entry['services'] == ['${app}']


def test_an_unpinned_entry_is_listed_as_such(tmp_path):
    write(tmp_path, 'redis', '7.0', REDIS % ('7.0', '7.0', '', '[]'))
    entry = info.catalog_info(str(tmp_path))['apps'][0]['versions'][0]
    assert entry['pinned'] is False and entry['image']['digest'] is None


def test_wrong_entries_are_named_and_the_others_listed(tmp_path):
    write(tmp_path, 'redis', '7.0', REDIS % ('7.0', '7.0', DIGEST, '[]'))
    write(tmp_path, 'redis', '7.2', REDIS % ('7.0', '7.2', DIGEST, '[]'))  # says it is 7.0
    write(tmp_path, 'redis', '7.4', REDIS.replace('type: port', 'type: portnumber') % ('7.4', '7.4', DIGEST, '[]'))
    write(tmp_path, 'nginx', '1.22', 'name: [unclosed\n')
    result = info.catalog_info(str(tmp_path))
    assert [item['name'] for item in result['apps']] == ['redis']
    assert [v['version'] for v in result['apps'][0]['versions']] == ['7.0']
    problems = '\n'.join(result['problems'])
    assert len(result['problems']) == 3, problems
    assert 'redis/7.2.yml: it says it is redis 7.0' in problems
    assert 'catalog entry redis 7.4' in problems and 'portnumber' in problems
    assert 'catalog entry nginx/1.22.yml: cannot be read' in problems


def test_an_app_not_in_the_catalog_fails_naming_those_there_are(tmp_path):
    write(tmp_path, 'redis', '7.0', REDIS % ('7.0', '7.0', DIGEST, '[]'))
    result = info.catalog_info(str(tmp_path), 'postgres')
    assert result['failed'] and result['msg'].endswith('has no postgres (its apps: redis)')
    result = info.catalog_info(str(tmp_path), 'redis', '6.2')
    assert result['failed'] and 'has no redis 6.2' in result['msg']


def test_a_catalog_that_is_not_a_directory_is_one_line(tmp_path):
    with pytest.raises(CatalogError, match='is not a directory: give catalog_path'):
        info.catalog_info(str(tmp_path / 'missing'))
