# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Who owns what in a namespace: its stack, or one of its apps (``_namespace.owner_labels``).

A stack and the apps of its namespace (or two apps) must never list, compare or prune each other's containers,
networks or volumes. The fake engine here answers list calls with label filters as the Docker engine does (every
``label`` filter must match), so the tests check the filters the deployer asks with, not only what it does with
the answers.
"""

from __future__ import annotations

import copy

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _stack
from ansible_collections.hna.cloudos.plugins.module_utils._compose import parse_stack
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import (
    LABEL_APP,
    LABEL_NAMESPACE,
    LABEL_STACK,
    owned_by,
    owner_filters,
    owner_labels,
    owner_text,
)

NS = 'shop'


# --- the labels -------------------------------------------------------------------------------------------


def test_owner_labels_of_a_stack_and_of_an_app():
    assert owner_labels(NS) == {LABEL_STACK: NS}
    assert owner_labels(NS, 'sessions') == {LABEL_APP: 'sessions', LABEL_NAMESPACE: NS}
    assert owner_filters(owner_labels(NS, 'sessions')) == [LABEL_APP + '=sessions', LABEL_NAMESPACE + '=shop']
    assert owner_text(NS) == 'the stack of namespace shop'
    assert owner_text(NS, 'sessions') == 'the app sessions of namespace shop'


@pytest.mark.parametrize('labels, stack, sessions, carts', [
    ({LABEL_STACK: NS, LABEL_NAMESPACE: NS}, True, False, False),
    ({LABEL_APP: 'sessions', LABEL_NAMESPACE: NS}, False, True, False),
    ({LABEL_APP: 'carts', LABEL_NAMESPACE: NS}, False, False, True),
    ({LABEL_APP: 'sessions', LABEL_NAMESPACE: 'other'}, False, False, False),
    # An app's container never counts as the stack's, even with the stack label set by hand.
    ({LABEL_APP: 'sessions', LABEL_NAMESPACE: NS, LABEL_STACK: NS}, False, True, False),
    ({}, False, False, False),
    (None, False, False, False),
])
def test_owned_by_tells_the_stack_and_each_app_apart(labels, stack, sessions, carts):
    assert owned_by(labels, owner_labels(NS)) is stack
    assert owned_by(labels, owner_labels(NS, 'sessions')) is sessions
    assert owned_by(labels, owner_labels(NS, 'carts')) is carts


def _app_document():
    return {
        'services': {'sessions': {'image': 'hnatest/busybox:1', 'volumes': ['sessions-data:/data'], 'networks': ['back']}},
        'volumes': {'sessions-data': {}},
        'networks': {'back': {}},
    }


def test_parse_stack_labels_an_apps_containers_volumes_and_networks_with_the_app():
    parsed = parse_stack(_app_document(), NS, app='sessions')
    spec = parsed['services']['sessions']['specs'][0]
    for labels in (spec['labels'], parsed['volumes']['sessions-data']['labels'], parsed['networks']['back']['labels']):
        assert labels[LABEL_APP] == 'sessions'
        assert LABEL_STACK not in labels
        assert owned_by(labels, owner_labels(NS, 'sessions'))
    assert parsed['volumes']['sessions-data']['labels'][LABEL_NAMESPACE] == NS


def test_parse_stack_labels_a_stack_as_before():
    parsed = parse_stack(_app_document(), NS)
    spec = parsed['services']['sessions']['specs'][0]
    for labels in (spec['labels'], parsed['volumes']['sessions-data']['labels'], parsed['networks']['back']['labels']):
        assert labels[LABEL_STACK] == NS
        assert LABEL_APP not in labels


# --- the deployer -------------------------------------------------------------------------------------------


def _matches(labels, filters):
    wanted = (filters or {}).get('label') or []
    if isinstance(wanted, str):
        wanted = [wanted]
    labels = labels or {}
    return all(labels.get(item.split('=', 1)[0]) == item.split('=', 1)[1] for item in wanted)


class FakeAPI(object):
    """Lists with label filters as the engine does; inspects by name."""
    api_version = '1.41'

    def __init__(self, containers=(), networks=(), volumes=()):
        self.containers_ = dict((item['Name'].lstrip('/'), item) for item in containers)
        self.networks_ = dict((item['Name'], item) for item in networks)
        self.networks_[NS] = dict(Name=NS, Id='n' * 64, Labels={LABEL_NAMESPACE: NS}, IPAM={'Config': []})
        self.volumes_ = dict((item['Name'], item) for item in volumes)
        self.filters = []

    @staticmethod
    def _get(table, name, what):
        if name not in table:
            raise _stack.NotFound('%s %s not found' % (what, name))
        return copy.deepcopy(table[name])

    def inspect_container(self, name):
        return self._get(self.containers_, name, 'container')

    def inspect_image(self, ref):
        return dict(Id='sha256:' + 'b' * 64, Config={})

    def inspect_network(self, name):
        return self._get(self.networks_, name, 'network')

    def inspect_volume(self, name):
        return self._get(self.volumes_, name, 'volume')

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        self.filters.append(('containers', filters))
        return [dict(Id=item['Id'], Names=[item['Name']], Labels=item['Config']['Labels'], State='running')
                for item in self.containers_.values() if _matches(item['Config']['Labels'], filters)]

    def networks(self, filters=None):
        self.filters.append(('networks', filters))
        return [item for name, item in self.networks_.items() if name != NS and _matches(item.get('Labels'), filters)]

    def volumes(self, filters=None):
        self.filters.append(('volumes', filters))
        return dict(Volumes=[item for item in self.volumes_.values() if _matches(item.get('Labels'), filters)])

    def close(self):
        pass


class FakeModule(object):
    _diff = False

    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


class FakeClient(object):
    check_mode = False
    docker_host = 'unix:///var/run/docker.sock'

    def __init__(self, api, **params):
        self.params = dict((key, copy.deepcopy(option.get('default'))) for key, option in _stack.stack_argument_spec().items())
        self.params.update(namespace=NS, timeout=60, config_path=None, parallel=1)
        self.params.update(params)
        self.api = api
        self.module = FakeModule()

    def new_api(self):
        return self.api


def _container(name, service, labels):
    labels = dict(labels, **{'io.hna.cloudos.service': service})
    return dict(Id=(name.replace('-', '') * 64)[:64], Name='/' + name, Config=dict(Labels=labels, Image='hnatest/busybox:1'),
                State=dict(Status='running', Running=True), HostConfig={}, NetworkSettings=dict(Networks={}))


STACK_WEB = _container('shop-web', 'web', {LABEL_STACK: NS, LABEL_NAMESPACE: NS})
APP_SESSIONS = _container('shop-sessions', 'sessions', {LABEL_APP: 'sessions', LABEL_NAMESPACE: NS})
APP_CARTS = _container('shop-carts', 'carts', {LABEL_APP: 'carts', LABEL_NAMESPACE: NS})


def _prepare(api, document, app=None, **params):
    deployer = _stack.StackDeployer(FakeClient(api, definition_content=document, **params), app=app)

    def plan(spec, state='started', container=False, image=False, check_ports=True, listing=None, **kwargs):
        return dict(name=spec['name'], container=container, image=image, state=state, action='none', actions=[], differences=[])

    deployer.engine.plan = plan
    try:
        return deployer.prepare(deployer.load()), deployer
    finally:
        deployer.close()


def test_an_app_lists_only_its_own_containers_and_prunes_nothing_of_the_stack_or_other_apps():
    api = FakeAPI(containers=[STACK_WEB, APP_SESSIONS, APP_CARTS])
    work, _deployer = _prepare(api, {'services': {'sessions': {'image': 'hnatest/busybox:1'}}}, app='sessions', prune=True)
    assert ('containers', {'label': [LABEL_APP + '=sessions', LABEL_NAMESPACE + '=shop']}) in api.filters
    assert work['removals'] == []
    assert work['plans']['sessions'][0]['container']['Name'] == '/shop-sessions'


def test_an_app_prunes_a_service_it_no_longer_has():
    old = _container('shop-sessions-cache', 'sessions-cache', {LABEL_APP: 'sessions', LABEL_NAMESPACE: NS})
    api = FakeAPI(containers=[STACK_WEB, APP_SESSIONS, APP_CARTS, old])
    work = _prepare(api, {'services': {'sessions': {'image': 'hnatest/busybox:1'}}}, app='sessions', prune=True)[0]
    assert [removal['name'] for removal in work['removals']] == ['shop-sessions-cache']


def test_the_stack_prunes_none_of_the_apps_containers():
    api = FakeAPI(containers=[STACK_WEB, APP_SESSIONS, APP_CARTS])
    work = _prepare(api, {'services': {'web': {'image': 'hnatest/busybox:1'}}}, prune=True)[0]
    assert ('containers', {'label': [LABEL_STACK + '=shop']}) in api.filters
    assert work['removals'] == []


def test_an_app_refuses_a_container_of_its_name_that_the_stack_owns():
    stack_sessions = _container('shop-sessions', 'sessions', {LABEL_STACK: NS, LABEL_NAMESPACE: NS})
    api = FakeAPI(containers=[stack_sessions])
    with pytest.raises(_stack.StackError) as caught:
        _prepare(api, {'services': {'sessions': {'image': 'hnatest/busybox:1'}}}, app='sessions')
    assert 'does not belong to the app sessions of namespace shop' in str(caught.value)
    assert 'Nothing was changed' in str(caught.value)


def test_the_stack_refuses_a_container_of_its_name_that_an_app_owns():
    api = FakeAPI(containers=[APP_SESSIONS])
    with pytest.raises(_stack.StackError) as caught:
        _prepare(api, {'services': {'sessions': {'image': 'hnatest/busybox:1'}}})
    assert 'does not belong to the stack of namespace shop' in str(caught.value)


def test_an_app_refuses_a_volume_of_its_name_that_the_stack_owns():
    volume = dict(Name='shop-sessions-data', Driver='local', Options={}, Labels={LABEL_STACK: NS, LABEL_NAMESPACE: NS})
    api = FakeAPI(volumes=[volume])
    document = {'services': {'sessions': {'image': 'hnatest/busybox:1', 'volumes': ['sessions-data:/data']}},
                'volumes': {'sessions-data': {}}}
    with pytest.raises(_stack.StackError) as caught:
        _prepare(api, document, app='sessions')
    message = str(caught.value)
    assert 'belongs to the stack of namespace shop, not to the app sessions of namespace shop' in message


def test_an_apps_files_live_beside_the_namespaces_not_inside():
    stack = _stack.StackDeployer(FakeClient(FakeAPI(), definition_content={'services': {}}, files_dir='/srv/files'))
    app = _stack.StackDeployer(FakeClient(FakeAPI(), definition_content={'services': {}}, files_dir='/srv/files'), app='sessions')
    assert stack.files_dir() == '/srv/files/shop'
    assert app.files_dir() == '/srv/files/shop.apps/sessions'
