# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The app module up to the stack machinery (``_app.run_app``): the checks before anything changes, the digest
check against the registry, the refusal of another app or of a version the entry may not replace, and what it
hands to the stack machinery (the rendered document, its variables, the owner). The deployment itself is the
stack machinery's (tested with the stack module)."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from ansible_collections.hna.cloudos.plugins.module_utils import _app
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import LABEL_APP, LABEL_APP_ENTRY, LABEL_NAMESPACE

CATALOG = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'catalog')
DIGEST = 'sha256:' + 'a' * 64
OTHER = 'sha256:' + 'b' * 64


def _entry(digest=DIGEST):
    with open(os.path.join(CATALOG, 'redis', '7.0.yml')) as handle:
        entry = yaml.safe_load(handle)
    entry['image']['digest'] = digest
    return entry


class Failed(Exception):
    def __init__(self, msg, result):
        super(Failed, self).__init__(msg)
        self.msg = msg
        self.result = result


class FakeModule(object):
    _diff = False
    check_mode = False

    def __init__(self):
        self.no_log_values = set()

    def warn(self, text):
        pass


class FakeAPI(object):
    def __init__(self, containers=()):
        self.listed = list(containers)
        self.filters = []

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        self.filters.append(filters)
        return copy.deepcopy(self.listed)


class FakeClient(object):
    check_mode = False
    docker_host = 'unix:///var/run/docker.sock'

    def __init__(self, api=None, **params):
        self.params = dict((key, copy.deepcopy(option.get('default'))) for key, option in _app.app_argument_spec().items())
        self.params.update(name='sessions', app='redis', version='7.0', namespace='shop', entry=_entry(),
                           registry='10.231.0.11:5000', params={'password': 's3cret-Pw'}, timeout=60)
        self.params.update(params)
        self.api = api or FakeAPI()
        self.module = FakeModule()
        self.module.params = self.params

    def fail(self, msg, **result):
        raise Failed(msg, result)


@pytest.fixture
def handed(monkeypatch):
    """What run_app hands to the stack machinery: (client, deployer, holder, what)."""
    seen = []
    monkeypatch.setattr(_app, 'run_deployer', lambda *args: seen.append(args))
    return seen


def _served(digest):
    def digest_of(registry, repository, tag):
        assert (registry, repository, tag) == ('10.231.0.11:5000', 'cloudos/redis', '7.0')
        return digest
    return digest_of


def test_the_stack_machinery_gets_the_rendered_app_as_its_own_owner(handed):
    client = FakeClient()
    _app.run_app(client, digest_of=_served(DIGEST))
    (_client, deployer, holder, what), = handed
    assert holder == 'hna.cloudos.app' and what == 'the app sessions of namespace shop'
    assert deployer.app == 'sessions' and deployer.owner == {LABEL_APP: 'sessions', LABEL_NAMESPACE: 'shop'}
    assert deployer.app_labels == {LABEL_APP_ENTRY: 'redis:7.0'}
    params = client.params
    assert list(params['definition_content']['services']) == ['sessions']
    assert params['env']['password'] == 's3cret-Pw' and 'password' not in params['env_visible']
    assert params['env']['image'] == '10.231.0.11:5000/cloudos/redis@' + DIGEST
    results = deployer.results
    assert results['image'] == '10.231.0.11:5000/cloudos/redis@' + DIGEST
    assert results['reach'] == {'dns': 'sessions.shop:6379', 'published': '127.0.0.1:6379'}
    assert results['params']['password'] == '(hidden)' and results['params']['port'] == 6379
    assert 's3cret-Pw' not in repr(results)


def test_a_replaced_image_is_refused_naming_both_digests(handed):
    with pytest.raises(Failed) as caught:
        _app.run_app(FakeClient(), digest_of=_served(OTHER))
    message = caught.value.msg
    assert 'tag 7.0 of cloudos/redis is %s in registry 10.231.0.11:5000, the catalog pins %s' % (OTHER, DIGEST) in message
    assert message.endswith('Nothing was changed.') and message.count('Nothing was changed') == 1
    assert caught.value.result['changed'] is False and handed == []


def test_without_a_digest_the_entry_is_refused_unless_unpinned_images_are_allowed(handed):
    with pytest.raises(Failed) as caught:
        _app.run_app(FakeClient(entry=_entry(digest='')), digest_of=_served(DIGEST))
    assert 'pins no digest yet' in caught.value.msg and handed == []
    _app.run_app(FakeClient(entry=_entry(digest=''), allow_unpinned=True), digest_of=_served(DIGEST))
    assert handed[0][0].params['env']['image'] == '10.231.0.11:5000/cloudos/redis:7.0'


@pytest.mark.parametrize('params, expected', [
    ({}, 'password'),
    ({'password': 'long-enough', 'port': 'http'}, 'port'),
    ({'password': 'long-enough', 'colour': 'red'}, 'colour'),
    ({'password': 'has a blank'}, 'password'),
])
def test_bad_parameters_fail_in_one_line_before_anything(handed, params, expected):
    with pytest.raises(Failed) as caught:
        _app.run_app(FakeClient(params=params), digest_of=_served(DIGEST))
    assert expected in caught.value.msg and '\n' not in caught.value.msg and handed == []


def test_a_bad_app_name_is_refused(handed):
    with pytest.raises(Failed) as caught:
        _app.run_app(FakeClient(name='Sessions!'), digest_of=_served(DIGEST))
    assert 'not a valid app name' in caught.value.msg and handed == []


def _installed(entry):
    labels = {LABEL_APP: 'sessions', LABEL_NAMESPACE: 'shop', LABEL_APP_ENTRY: entry}
    return [dict(Id='c' * 64, Names=['/shop-sessions'], Labels=labels)]


def test_an_app_of_that_name_from_another_catalog_app_is_refused(handed):
    api = FakeAPI(_installed('mariadb:10.11'))
    with pytest.raises(Failed) as caught:
        _app.run_app(FakeClient(api=api), digest_of=_served(DIGEST))
    assert 'app sessions of namespace shop runs mariadb:10.11, not redis' in caught.value.msg and handed == []
    assert api.filters == [{'label': [LABEL_APP + '=sessions', LABEL_NAMESPACE + '=shop']}]


def test_a_version_the_entry_may_not_replace_is_refused(handed):
    with pytest.raises(Failed) as caught:
        _app.run_app(FakeClient(api=FakeAPI(_installed('redis:6.2'))), digest_of=_served(DIGEST))
    assert 'cannot replace version' in caught.value.msg and handed == []


def test_the_same_version_again_goes_through(handed):
    _app.run_app(FakeClient(api=FakeAPI(_installed('redis:7.0'))), digest_of=_served(DIGEST))
    assert len(handed) == 1


def test_absent_needs_no_entry_and_removes_the_data_only_when_asked(handed):
    client = FakeClient(state='absent', entry=None, app=None, version=None, params={})
    _app.run_app(client)
    deployer = handed[0][1]
    assert client.params['remove_volumes'] is False and deployer.owner[LABEL_APP] == 'sessions'
    client = FakeClient(state='absent', entry=None, remove_data=True)
    _app.run_app(client)
    assert client.params['remove_volumes'] is True


def test_the_digest_check_is_skipped_without_a_registry(handed):
    def never(*args):
        raise AssertionError('the registry was asked')
    _app.run_app(FakeClient(registry=None), digest_of=never)
    assert handed[0][0].params['env']['image'] == 'cloudos/redis@' + DIGEST
