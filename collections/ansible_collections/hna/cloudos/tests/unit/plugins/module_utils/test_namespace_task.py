# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the namespace module run (diff view, and the module against a fake engine)."""

from __future__ import annotations

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc
from ansible_collections.hna.cloudos.plugins.module_utils import _namespace as ns
from ansible_collections.hna.cloudos.plugins.module_utils import _namespace_task as task
from ansible_collections.hna.cloudos.plugins.module_utils._lock import LockError
from ansible_collections.hna.cloudos.plugins.modules import namespace
from ansible_collections.hna.cloudos.tests.unit.plugins.module_utils.fake_namespace_engine import (
    FakeNamespaceEngine,
    container,
)

GIB = 1024 ** 3


def test_diff_view():
    assert task._diff_view(None) == {}
    model = dict(subnet='10.240.0.0/24', region='eu', description=None, owner='',
                 quotas=dict(containers=3, volumes=None, cpus=1.5, memory=3 * GIB // 2))
    assert task._diff_view(model) == dict(subnet='10.240.0.0/24', region='eu', description='', owner='',
                                          quotas=dict(containers=3, volumes=None, cpus=1.5, memory='1.5g'))
    assert task._diff_view(dict(subnet='10.0.0.0/29'))['quotas'] == dict(containers=None, volumes=None, cpus=None, memory=None)


def test_model_for():
    labels = ns.namespace_labels('shop', dict(owner='me'), ns.normalize_quotas(dict(volumes=2)), created='2024-01-01T00:00:00Z')
    model = task._model_for('shop', labels, '10.240.0.0/24', '10.240.0.1')
    assert (model['name'], model['network_id'], model['subnet'], model['gateway'], model['owner']) == (
        'shop', '', '10.240.0.0/24', '10.240.0.1', 'me')
    assert (model['quotas']['volumes'], model['created'], model['metadata_volume']) == (2, '2024-01-01T00:00:00Z', None)


def test_argument_spec_is_fresh_each_call():
    first = task.namespace_argument_spec()
    first['quotas']['options']['memory']['type'] = 'int'
    assert task.namespace_argument_spec()['quotas']['options']['memory']['type'] == 'str'
    assert task.NAMESPACE_MODULE_KWARGS == dict(supports_check_mode=True)


# --- the module against a fake engine ---------------------------------------------------------------


class FakeLock(object):
    """Stands in for the namespace lock; ``busy`` makes it refuse."""

    taken = []
    busy = False

    def __init__(self, client, name, module, timeout):
        self.args = (name, module, timeout)

    def acquire(self):
        if FakeLock.busy:
            raise LockError('Namespace shop is locked by process 42.')
        FakeLock.taken.append(self.args)
        return self

    def release(self):
        FakeLock.taken.append('released')


@pytest.fixture
def run_ns(monkeypatch, module_exits, module_args, clean_docker_env):
    monkeypatch.setattr(dc.docker, 'APIClient', FakeNamespaceEngine)
    monkeypatch.setattr(task, 'namespace_lock', FakeLock)
    FakeLock.taken = []
    FakeLock.busy = False
    FakeNamespaceEngine.reset()
    module_exit, module_fail = module_exits

    def run(args, check=False, diff=False):
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        with module_args(args):
            with pytest.raises((module_exit, module_fail)) as outcome:
                namespace.main()
        return outcome.value.result

    return run


def _changes():
    return [call for call in FakeNamespaceEngine.calls if call[0].startswith(('create', 'remove', 'disconnect'))]


def test_create_in_check_mode_then_for_real_then_unchanged(run_ns):
    args = dict(name='shop', subnet='10.240.7.0/24', owner='team', quotas=dict(containers=2, memory='1g'))
    planned = run_ns(args, check=True, diff=True)
    assert planned['changed'] is True and _changes() == []
    assert (planned['namespace']['subnet'], planned['namespace']['network_id']) == ('10.240.7.0/24', '')
    assert planned['diff'] == dict(before={}, after=dict(subnet='10.240.7.0/24', region='', description='', owner='team',
                                                         quotas=dict(containers=2, volumes=None, cpus=None, memory='1g')))
    created = run_ns(args)
    assert created['changed'] is True and _changes() == [('create_network', 'shop')]
    assert created['namespace']['network_id'] == FakeNamespaceEngine.networks_by_name['shop']['Id']
    assert created['namespace']['available'] == dict(containers=2, volumes=None, cpus=None, memory=GIB)
    assert FakeLock.taken == [('shop', 'hna.cloudos.namespace', 300), 'released'] * 2
    FakeNamespaceEngine.calls = []
    for check in (False, True):
        again = run_ns(args, check=check)
        assert again['changed'] is False and _changes() == []
        assert again['namespace'] == created['namespace']


def test_a_metadata_change_writes_a_new_metadata_volume(run_ns):
    run_ns(dict(name='shop', subnet_pool='10.250.0.0/16', subnet_size=28))
    assert FakeNamespaceEngine.networks_by_name['shop']['IPAM']['Config'][0]['Subnet'] == '10.250.0.0/28'
    FakeNamespaceEngine.calls = []
    result = run_ns(dict(name='shop', region='eu'), diff=True)
    assert result['changed'] is True
    assert _changes() == [('create_volume', 'shop.namespace-meta.1')]
    assert (result['namespace']['region'], result['namespace']['metadata_volume']) == ('eu', 'shop.namespace-meta.1')
    assert (result['diff']['before']['region'], result['diff']['after']['region']) == ('', 'eu')
    FakeNamespaceEngine.calls = []
    result = run_ns(dict(name='shop', region='us'))
    assert _changes() == [('create_volume', 'shop.namespace-meta.2'), ('remove_volume', 'shop.namespace-meta.1')]
    assert result['removed_metadata_volumes'] == ['shop.namespace-meta.1']


def test_refusals_name_the_input(run_ns):
    failed = run_ns(dict(name='shop', lock_timeout=-1))
    assert failed['failed'] and failed['msg'] == 'lock_timeout must be 0 or more, not -1.'
    FakeNamespaceEngine.networks_by_name['shop'] = dict(Name='shop', Id='n1', Labels={}, IPAM={})
    failed = run_ns(dict(name='shop'))
    assert 'A Docker network named shop already exists and is not a namespace' in failed['msg']
    run_ns(dict(name='blog', subnet='10.240.8.0/24'))
    failed = run_ns(dict(name='blog', subnet='10.240.9.0/24'))
    assert failed['msg'].startswith('Namespace blog already exists on subnet 10.240.8.0/24: its subnet cannot be changed')
    FakeLock.busy = True
    failed = run_ns(dict(name='blog', region='eu'))
    assert failed['msg'] == 'Namespace shop is locked by process 42. Nothing was changed.'
    assert failed['changed'] is False


def test_absent_refuses_containers_then_removes_them_with_force(run_ns):
    run_ns(dict(name='shop', subnet='10.240.7.0/24', owner='team'))
    run_ns(dict(name='shop', owner='other'))
    carried = container('shop-db', service='db')
    carried['Config']['Labels'][ns.LABEL_ANONYMOUS_VOLUMES] = 'anon1,elsewhere,gone1'
    FakeNamespaceEngine.container_list[:] = [carried, container('shop-web', service='web')]
    FakeNamespaceEngine.volume_list += [dict(Name='shop-data', Labels={ns.LABEL_NAMESPACE: 'shop'}), dict(Name='anon1', Labels={}),
                                        dict(Name='elsewhere', Labels={ns.LABEL_NAMESPACE: 'blog'})]
    FakeNamespaceEngine.calls = []
    refused = run_ns(dict(name='shop', state='absent'))
    assert refused['msg'].startswith('Namespace shop still has 2 container(s): shop-db, shop-web. Remove them first')
    assert _changes() == []
    planned = run_ns(dict(name='shop', state='absent', force=True), check=True)
    assert (planned['changed'], planned['removed_containers'], planned['kept_volumes']) == (
        True, ['shop-db', 'shop-web'], ['shop-data', 'anon1'])
    assert _changes() == []
    removed = run_ns(dict(name='shop', state='absent', force=True, remove_volumes=True))
    assert removed['removed_volumes'] == ['shop-data', 'anon1']
    assert removed['removed_metadata_volumes'] == ['shop.namespace-meta.1']
    assert [call[0] for call in _changes()] == ['remove_container', 'remove_container', 'remove_network', 'remove_volume',
                                                'remove_volume', 'remove_volume']
    assert [volume['Name'] for volume in FakeNamespaceEngine.volume_list] == ['elsewhere']
    gone = run_ns(dict(name='shop', state='absent', force=True, remove_volumes=True))
    assert gone['changed'] is False and gone['namespace'] == {}


class _EndpointsEngine(object):
    """Refuses to remove the network while endpoints are torn down (``busy`` attempts), lists ``attached``."""

    def __init__(self, busy, attached=()):
        self.busy = busy
        self.attached = list(attached)
        self.removed = 0

    def remove_network(self, network_id):
        if self.busy > 0:
            self.busy -= 1
            raise dc.APIError('403 Client Error', explanation='error while removing network: network ns id %s has active '
                                                              'endpoints' % network_id)
        self.removed += 1

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        return self.attached


class _Failed(Exception):
    pass


class _Remover(object):
    name = 'shop'

    def __init__(self, api):
        self.api = api

    def fail(self, msg):
        raise _Failed(msg)


NETWORK = {'Id': 'abc123', 'Name': 'shop'}


def test_network_removal_waits_for_endpoints_being_torn_down():
    api = _EndpointsEngine(busy=2)
    task.NamespaceModule._remove_network(_Remover(api), NETWORK, settle=5)
    assert api.removed == 1 and api.busy == 0


def test_network_removal_gives_up_after_the_settle_time_with_the_fix():
    api = _EndpointsEngine(busy=100)
    with pytest.raises(_Failed, match='restart the Docker engine'):
        task.NamespaceModule._remove_network(_Remover(api), NETWORK, settle=0.6)


def test_network_removal_names_a_container_attached_meanwhile():
    api = _EndpointsEngine(busy=1, attached=[{'Id': 'c1', 'Names': ['/intruder']}])
    with pytest.raises(_Failed, match='intruder'):
        task.NamespaceModule._remove_network(_Remover(api), NETWORK, settle=5)
    assert api.removed == 0


def test_network_removal_reraises_other_errors_at_once():
    class Refusing(_EndpointsEngine):
        def remove_network(self, network_id):
            raise dc.APIError('500 Server Error', explanation='something else')
    with pytest.raises(dc.APIError, match='something else'):
        task.NamespaceModule._remove_network(_Remover(Refusing(0)), NETWORK, settle=5)
