# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The inspections of ``StackDeployer.prepare``, made ahead in parallel (``parallel`` workers).

The answers must be those of the one-by-one inspections: the same plans in the same order, and the same
error (type and message) at the same point, whatever the number of workers. ``parallel: 1`` is the
one-by-one path, the reference the parallel runs are compared with.
"""

from __future__ import annotations

import copy
import functools
import threading
import time

import docker
import pytest
import requests

from ansible_collections.hna.cloudos.plugins.module_utils import _stack
from ansible_collections.hna.cloudos.plugins.module_utils._docker_engine import ContainerEngineError

NS = 'shop'
HOST = 'unix:///var/run/docker.sock'
IMAGE_ID = 'sha256:' + 'b' * 64


def _response(status):
    response = requests.Response()
    response.status_code = status
    return response


def _not_found(what):
    return docker.errors.NotFound('%s not found' % what, response=_response(404), explanation='No such object: %s' % what)


def _server_error(what):
    return docker.errors.APIError('500 Server Error', response=_response(500), explanation='boom while inspecting %s' % what)


class World(object):
    """What the fake engine holds, shared by every fake ``APIClient`` (the module's and its workers')."""

    def __init__(self, containers=(), images=None, networks=(), volumes=(), delay=0.0):
        self.containers = dict((container['Name'].lstrip('/'), container) for container in containers)
        self.images = dict(images if images is not None else {'hnatest/busybox:1': dict(Id=IMAGE_ID, Config={})})
        self.networks = dict((network['Name'], network) for network in networks)
        self.networks[NS] = dict(Name=NS, Id='n' * 64, Labels={'io.hna.cloudos.namespace': NS}, IPAM={'Config': []})
        self.volumes = dict((volume['Name'], volume) for volume in volumes)
        self.failures = {}  # (method, name) -> exception to raise
        self.delay = delay
        self.lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        self.calls = []  # (method, name, api, thread)
        self.apis = []  # the clients made for worker threads

    def answer(self, api, method, name, table):
        with self.lock:
            self.calls.append((method, name, api, threading.current_thread().name))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            if (method, name) in self.failures:
                raise self.failures[(method, name)]
            if name not in table:
                raise _not_found('%s %s' % (method, name))
            return copy.deepcopy(table[name])
        finally:
            with self.lock:
                self.active -= 1

    def inspections(self, method, api=None):
        return [call[1] for call in self.calls if call[0] == method and (api is None or call[2] is api)]


class FakeAPI(object):
    api_version = '1.41'

    def __init__(self, world):
        self.world = world

    def inspect_container(self, name):
        return self.world.answer(self, 'inspect_container', name, self.world.containers)

    def inspect_image(self, ref):
        return self.world.answer(self, 'inspect_image', ref, self.world.images)

    def inspect_network(self, name):
        return self.world.answer(self, 'inspect_network', name, self.world.networks)

    def inspect_volume(self, name):
        return self.world.answer(self, 'inspect_volume', name, self.world.volumes)

    def volumes(self, filters=None):
        return dict(Volumes=[])

    def networks(self, filters=None):
        return [network for name, network in self.world.networks.items() if name != NS]

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        return [dict(Id=container['Id'], Names=[container['Name']], Labels=container['Config']['Labels'], State='running')
                for container in self.world.containers.values()]

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
    docker_host = HOST

    def __init__(self, world, **params):
        self.world = world
        self.params = dict((key, copy.deepcopy(option.get('default'))) for key, option in _stack.stack_argument_spec().items())
        self.params.update(namespace=NS, timeout=60, config_path=None)
        self.params.update(params)
        self.api = FakeAPI(world)
        self.module = FakeModule()

    def new_api(self):
        api = FakeAPI(self.world)
        with self.world.lock:
            self.world.apis.append(api)
        return api


def _container(name, service, stack=NS):
    labels = {'io.hna.cloudos.service': service}
    if stack:
        labels['io.hna.cloudos.stack'] = stack
    return dict(Id=(name.replace('-', '') * 64)[:64], Name='/' + name, Config=dict(Labels=labels, Image='hnatest/busybox:1'),
                State=dict(Status='running', Running=True), HostConfig={}, NetworkSettings=dict(Networks={}))


def _document(count, replicas=1, networks=(), volumes=()):
    services = {}
    for number in range(1, count + 1):
        service = {'image': 'hnatest/busybox:1'}
        if replicas > 1:
            service['deploy'] = {'replicas': replicas}
        if networks:
            service['networks'] = list(networks)
        services['svc%02d' % number] = service
    document = {'services': services}
    if networks:
        document['networks'] = dict((name, {}) for name in networks)
    if volumes:
        document['volumes'] = dict((name, {}) for name in volumes)
    return document


def _deployer(world, document, **params):
    deployer = _stack.StackDeployer(FakeClient(world, definition_content=document, **params))
    stack = deployer.load()

    def plan(spec, state='started', container=False, image=False, check_ports=True, listing=None, **kwargs):
        # Only what prepare found out: the comparison itself is the engine's (tested elsewhere).
        return dict(name=spec['name'], container=container, image=image, state=state, action='none', actions=[], differences=[])

    deployer.engine.plan = plan
    return deployer, stack


def _prepare(world, document, **params):
    deployer, stack = _deployer(world, document, **params)
    try:
        return deployer.prepare(stack), deployer
    finally:
        deployer.close()


def _failure(world, document, **params):
    """The exception prepare raises: (type, message)."""
    deployer, stack = _deployer(world, document, **params)
    try:
        with pytest.raises((_stack.StackError, ContainerEngineError)) as caught:
            deployer.prepare(stack)
    finally:
        deployer.close()
    return type(caught.value), str(caught.value)


def _names(count, replicas=1):
    names = []
    for number in range(1, count + 1):
        base = '%s-svc%02d' % (NS, number)
        names.append(base)
        names.extend('%s-%d' % (base, replica) for replica in range(2, replicas + 1))
    return names


# --- the answers and their order ----------------------------------------------------------------------------


@pytest.mark.parametrize('parallel', [1, 2, 4, 8])
def test_plans_get_the_container_of_their_own_name_in_service_order(parallel):
    existing = [_container(name, name.split('-')[1]) for name in _names(12, replicas=2)[::3]]
    world = World(containers=existing, delay=0.005)
    work = _prepare(world, _document(12, replicas=2), parallel=parallel)[0]

    assert list(work['plans']) == ['svc%02d' % number for number in range(1, 13)]
    found = dict((container['Name'].lstrip('/'), container) for container in existing)
    planned = [(plan['name'], plan['container']) for name in work['plans'] for plan in work['plans'][name]]
    assert [name for name, container in planned] == _names(12, replicas=2)
    for name, container in planned:
        assert container == found.get(name)
    assert all(plan['image'] == dict(Id=IMAGE_ID, Config={}) for plans in work['plans'].values() for plan in plans)
    # Each container inspected once, whatever the number of workers.
    assert sorted(world.inspections('inspect_container')) == sorted(_names(12, replicas=2))


def test_parallel_and_one_by_one_prepare_the_same_work():
    existing = [_container(name, name.split('-')[1]) for name in _names(8)[1::2]]
    networks = [dict(Name='%s-front' % NS, Id='f' * 64, Driver='bridge', Internal=False,
                     Labels={'io.hna.cloudos.managed': 'true', 'io.hna.cloudos.stack': NS})]
    volumes = [dict(Name='%s-data' % NS, Driver='local', Options=None,
                    Labels={'io.hna.cloudos.managed': 'true', 'io.hna.cloudos.namespace': NS, 'io.hna.cloudos.stack': NS})]
    document = _document(8, networks=['front', 'back'], volumes=['data', 'logs'])
    one_by_one = _prepare(World(containers=existing, networks=networks, volumes=volumes), document, parallel=1)[0]
    parallel = _prepare(World(containers=existing, networks=networks, volumes=volumes), document, parallel=4)[0]

    assert parallel == one_by_one
    assert dict((key, entry['action']) for key, entry in parallel['networks'].items()) == dict(front='unchanged', back='create')
    assert dict((key, entry['action']) for key, entry in parallel['volumes'].items()) == dict(data='unchanged', logs='create')


def test_the_inspections_are_made_by_the_workers_and_each_once():
    world = World(containers=[_container('%s-svc01' % NS, 'svc01')], delay=0.005)
    deployer = _prepare(world, _document(10, networks=['front'], volumes=['data']), parallel=4)[1]

    main = deployer.client.api
    assert world.inspections('inspect_container', main) == []
    assert world.inspections('inspect_image', main) == []
    assert world.inspections('inspect_volume', main) == []
    assert world.inspections('inspect_network', main) == [NS]  # the namespace, asked before
    assert sorted(world.inspections('inspect_container')) == sorted(_names(10))
    assert world.inspections('inspect_image') == ['hnatest/busybox:1']
    assert world.inspections('inspect_network') == [NS, '%s-front' % NS]
    assert world.inspections('inspect_volume') == ['%s-data' % NS]


def test_one_worker_inspects_one_by_one_in_order_with_the_module_client():
    world = World()
    deployer = _prepare(world, _document(5, networks=['front'], volumes=['data']), parallel=1)[1]

    assert world.apis == []
    assert all(call[2] is deployer.client.api for call in world.calls)
    assert [(call[0], call[1]) for call in world.calls if call[0] != 'inspect_network' or call[1] != NS] == (
        [('inspect_image', 'hnatest/busybox:1')] + [('inspect_container', name) for name in _names(5)]
        + [('inspect_network', '%s-front' % NS), ('inspect_volume', '%s-data' % NS)])


# --- the number of workers ----------------------------------------------------------------------------------


@pytest.mark.parametrize('parallel', [2, 3, 4])
def test_no_more_requests_at_a_time_than_parallel(parallel):
    world = World(delay=0.02)
    _prepare(world, _document(12), parallel=parallel)

    assert 1 < world.most_active <= parallel
    assert 1 < len(world.apis) <= parallel  # one client per worker thread, not per request


def test_fewer_workers_than_parallel_when_fewer_requests(monkeypatch):
    sizes = []
    original = _stack.ThreadPoolExecutor

    def executor(max_workers=None, **kwargs):
        sizes.append(max_workers)
        return original(max_workers=max_workers, **kwargs)

    monkeypatch.setattr(_stack, 'ThreadPoolExecutor', executor)
    _prepare(World(), _document(2), parallel=8)  # one image and two containers
    _prepare(World(), _document(30), parallel=4)
    assert sizes == [3, 4]


def test_a_single_inspection_is_made_by_the_module_client():
    world = World()
    deployer, stack = _deployer(world, _document(1), parallel=4, pull='always')
    deployer.engine.image = lambda ref, pull='missing', inspect=None: dict(Id=IMAGE_ID, Config={})
    deployer.prepare(stack)
    assert world.apis == []
    assert world.inspections('inspect_container', deployer.client.api) == ['%s-svc01' % NS]


def test_inspect_ahead_keeps_the_order_and_the_errors():
    deployer = _stack.StackDeployer(FakeClient(World(), parallel=3))
    error = ValueError('no')

    def request(number, engine):
        if number == 4:
            raise error
        return number * 10

    answers = deployer._inspect_ahead([(number, functools.partial(request, number)) for number in range(8)])
    deployer.close()
    assert answers[4] == (None, error)
    assert [answers[number] for number in range(8) if number != 4] == [(n * 10, None) for n in range(8) if n != 4]
    with pytest.raises(ValueError) as caught:
        deployer._answer(answers, 4, lambda: 'not asked again')
    assert caught.value is error
    assert deployer._answer(answers, 5, lambda: 'not asked again') == 50
    assert deployer._answer(answers, 5, lambda: 'asked now') == 'asked now'  # an answer is used once
    assert deployer._answer({}, 9, lambda value: value, 'asked now') == 'asked now'


# --- errors: the same as one by one ---------------------------------------------------------------------------


def _both(world_factory, document, **params):
    """(type, message) of the failure with one worker and with four; they must be the same."""
    one_by_one = _failure(world_factory(), document, parallel=1, **params)
    parallel = _failure(world_factory(), document, parallel=4, **params)
    assert parallel == one_by_one
    return parallel


def test_a_failing_container_inspection_fails_with_todays_message():
    def world():
        world = World(delay=0.002)
        world.failures[('inspect_container', '%s-svc07' % NS)] = _server_error('%s-svc07' % NS)
        return world

    kind, message = _both(world, _document(12))
    assert kind is ContainerEngineError
    assert message.startswith('The Docker engine at %s could not inspect the container %s-svc07' % (HOST, NS))
    assert 'boom while inspecting %s-svc07' % NS in message


def test_a_lost_connection_fails_with_todays_message():
    def world():
        world = World()
        world.failures[('inspect_container', '%s-svc03' % NS)] = requests.exceptions.ConnectionError('Connection aborted.')
        return world

    kind, message = _both(world, _document(6))
    assert kind is ContainerEngineError
    assert message.startswith('Cannot reach the Docker engine at %s: Connection aborted.' % HOST)


def test_the_first_problem_in_service_order_wins():
    # svc03's container belongs to no stack (found while planning svc03); svc09's inspection fails: svc03 first.
    def world():
        world = World(containers=[_container('%s-svc03' % NS, 'svc03', stack=None)])
        world.failures[('inspect_container', '%s-svc09' % NS)] = _server_error('%s-svc09' % NS)
        return world

    kind, message = _both(world, _document(12))
    assert kind is _stack.StackError
    assert message.startswith('A container named %s-svc03 already exists and does not belong to the stack' % NS)

    # The other way round: the failing inspection comes first.
    def other():
        world = World(containers=[_container('%s-svc09' % NS, 'svc09', stack=None)])
        world.failures[('inspect_container', '%s-svc03' % NS)] = _server_error('%s-svc03' % NS)
        return world

    kind, message = _both(other, _document(12))
    assert kind is ContainerEngineError
    assert 'inspect the container %s-svc03' % NS in message


def test_a_failing_image_inspection_fails_before_the_containers():
    def world():
        world = World()
        world.failures[('inspect_image', 'hnatest/busybox:1')] = _server_error('hnatest/busybox:1')
        world.failures[('inspect_container', '%s-svc02' % NS)] = _server_error('%s-svc02' % NS)
        return world

    kind, message = _both(world, _document(4))
    assert kind is ContainerEngineError
    assert message.startswith('The Docker engine at %s could not inspect the image hnatest/busybox:1' % HOST)


def test_a_missing_image_with_pull_never_fails_with_todays_message():
    kind, message = _both(lambda: World(images={}), _document(4), pull='never')
    assert kind is ContainerEngineError
    assert message == ('The image hnatest/busybox:1 is not on the Docker engine at %s and pull is never: build, load or '
                       'pull it first, or set pull to missing.' % HOST)


def test_a_missing_image_is_pulled_one_by_one_after_the_inspections(monkeypatch):
    pulled = []

    def pull(engine, ref):
        pulled.append((ref, threading.current_thread() is threading.main_thread()))
        engine.client.world.images[ref] = dict(Id=IMAGE_ID, Config={})

    monkeypatch.setattr(_stack.ContainerEngine, '_pull', pull)
    world = World(images={})
    work = _prepare(world, _document(4), parallel=4)[0]
    assert pulled == [('hnatest/busybox:1', True)]
    assert all(plan['image'] == dict(Id=IMAGE_ID, Config={}) for plans in work['plans'].values() for plan in plans)


def test_a_failing_network_inspection_fails_with_todays_message():
    def world():
        world = World()
        world.failures[('inspect_network', '%s-back' % NS)] = _server_error('%s-back' % NS)
        return world

    kind, message = _both(world, _document(4, networks=['front', 'back']))
    assert kind is _stack.StackError
    assert message.startswith('The Docker engine at %s could not inspect the network %s-back: ' % (HOST, NS))


def test_a_failing_volume_inspection_fails_with_todays_message():
    def world():
        world = World()
        world.failures[('inspect_volume', '%s-data' % NS)] = _server_error('%s-data' % NS)
        return world

    kind, message = _both(world, _document(4, volumes=['data']))
    assert kind is _stack.StackError
    assert message.startswith('The Docker engine at %s could not inspect the volume %s-data: ' % (HOST, NS))


def test_a_worker_that_cannot_connect_fails_where_its_request_was_needed():
    class Refusing(FakeClient):
        def new_api(self):
            raise docker.errors.DockerException('no more connections')

    deployer = _stack.StackDeployer(Refusing(World(), definition_content=_document(3), parallel=4))
    stack = deployer.load()
    with pytest.raises(_stack.StackError) as caught:
        deployer.prepare(stack)
    assert str(caught.value) == 'Cannot open another connection to the Docker engine at %s: no more connections' % HOST
