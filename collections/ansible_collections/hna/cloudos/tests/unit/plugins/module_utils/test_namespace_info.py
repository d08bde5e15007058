# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the namespace_info run (pure description helpers, and the module against a fake engine)."""

from __future__ import annotations

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc
from ansible_collections.hna.cloudos.plugins.module_utils import _namespace as ns
from ansible_collections.hna.cloudos.plugins.module_utils import _namespace_info as info
from ansible_collections.hna.cloudos.plugins.modules import namespace_info
from ansible_collections.hna.cloudos.tests.unit.plugins.module_utils.fake_namespace_engine import (
    FakeNamespaceEngine,
    container,
)

IMAGE_ID = 'sha256:' + 'a' * 64


# --- times and ports --------------------------------------------------------------------------------


@pytest.mark.parametrize('value, expected', [
    ('2024-05-02T08:16:02.123456789Z', '2024-05-02T08:16:02Z'),
    ('2024-05-02T08:16:02Z', '2024-05-02T08:16:02Z'),
    ('2024-05-02T08:16:02+02:00', '2024-05-02T08:16:02Z'),
    ('0001-01-01T00:00:00Z', None),
    ('', None),
    (None, None),
    ('yesterday', None),
])
def test_utc_time(value, expected):
    assert info.utc_time(value) == expected


def test_published_ports_of_a_running_container_are_the_bound_ones():
    running = dict(State=dict(Running=True),
                   NetworkSettings=dict(Ports={'80/tcp': [dict(HostIp='127.0.0.1', HostPort='8080'),
                                                          dict(HostIp='::1', HostPort='8080')],
                                               '53/udp': [dict(HostIp='0.0.0.0', HostPort='5353')],
                                               '9000/tcp': None}),
                   HostConfig=dict(PortBindings={'81/tcp': [dict(HostIp='', HostPort='1')]}))
    assert info.published_ports(running) == ['0.0.0.0:5353->53/udp', '127.0.0.1:8080->80/tcp', '[::1]:8080->80/tcp']


def test_published_ports_of_a_stopped_container_are_those_it_publishes_when_running():
    stopped = dict(State=dict(Running=False), NetworkSettings=dict(Ports={}),
                   HostConfig=dict(PortBindings={'80': [dict(HostIp='', HostPort='')], '443/tcp': [None]}))
    assert info.published_ports(stopped) == ['0.0.0.0:->443/tcp', '0.0.0.0:->80/tcp']
    assert info.published_ports({}) == []


# --- descriptions -----------------------------------------------------------------------------------


def test_describe_instance():
    item = info.describe_instance(container('shop-api-2', service='api', replica=2, health='starting'), 'shop')
    assert item == dict(name='shop-api-2', id=('shopapi2' * 8), replica=2, state='Registering', docker_state='running',
                        health='starting', exit_code=0, ipv4_address='10.240.0.2', image='hnatest/busybox:1',
                        image_id=IMAGE_ID, created='2024-05-02T08:16:02Z', started='2024-05-02T08:16:03Z')
    stopped = info.describe_instance(container('lone', replica='x', running=False, exit_code=3, started=None), 'shop')
    assert (stopped['replica'], stopped['state'], stopped['exit_code'], stopped['ipv4_address'], stopped['started']) == (
        None, 'Exited', 3, None, None)


def test_describe_services_groups_by_service_label_and_rolls_up():
    containers = [
        container('shop-api-2', service='api', replica=2, created='2024-05-02T08:00:02Z', started='2024-05-03T00:00:00Z',
                  ports={'80/tcp': [dict(HostIp='127.0.0.1', HostPort='8081')]}),
        container('shop-api-1', service='api', replica=1, created='2024-05-02T08:00:01Z', started='2024-05-02T09:00:00Z',
                  ports={'80/tcp': [dict(HostIp='127.0.0.1', HostPort='8080')]}, health='unhealthy'),
        container('worker', running=False, exit_code=0, started=None),
    ]
    services = info.describe_services('shop', containers, {IMAGE_ID: 'hnatest/busybox@sha256:' + 'b' * 64})
    assert [service['name'] for service in services] == ['api', 'worker']
    api, worker = services
    assert api['containers'] == ['shop-api-1', 'shop-api-2']
    assert (api['replicas'], api['state'], api['exit_code']) == (2, 'Unhealthy', None)
    assert api['dns_names'] == ['api.shop', 'api']
    assert api['ports'] == ['127.0.0.1:8080->80/tcp', '127.0.0.1:8081->80/tcp']
    assert api['image_digest'] == 'hnatest/busybox@sha256:' + 'b' * 64
    assert (api['created'], api['started']) == ('2024-05-02T08:00:01Z', '2024-05-03T00:00:00Z')
    assert (worker['state'], worker['started'], worker['dns_names']) == ('Stopped', None, ['worker.shop', 'worker'])


def test_describe_namespace():
    model = dict(name='shop', quotas=dict(containers=1, volumes=None, cpus=None, memory=None))
    described = info.describe_namespace(model, [container('a', memory=1024), container('b', running=False)],
                                        [dict(Name='shop-data')], {})
    assert described['usage'] == dict(containers=2, volumes=1, cpus=0.0, memory=1024)
    assert described['available'] == dict(containers=0, volumes=None, cpus=None, memory=None)
    assert described['over_quota'] == ['containers: 2 in use, quota 1']
    assert (described['status'], described['volumes']) == ('Active', ['shop-data'])
    assert info.describe_namespace(dict(name='x', quotas={}), [], [], {})['status'] == 'Empty'


def test_argument_spec_is_fresh_each_call():
    first = info.namespace_info_argument_spec()
    first['name']['type'] = 'int'
    assert info.namespace_info_argument_spec() == dict(name=dict(type='str'))


# --- the module against a fake engine ---------------------------------------------------------------


def _network(name, ident):
    labels = ns.namespace_labels(name, dict(owner='team-%s' % name), ns.normalize_quotas(dict(containers=5)),
                                 created='2024-01-01T00:00:00Z')
    return dict(Name=name, Id=ident, Labels=labels, IPAM=dict(Config=[dict(Subnet='10.240.0.0/24', Gateway='10.240.0.1')]))


@pytest.fixture
def run_info(monkeypatch, module_exits, module_args, clean_docker_env):
    monkeypatch.setattr(dc.docker, 'APIClient', FakeNamespaceEngine)
    module_exit, module_fail = module_exits

    def run(args):
        with module_args(args):
            with pytest.raises((module_exit, module_fail)) as outcome:
                namespace_info.main()
        return outcome.value.result

    return run


def test_module_describes_every_namespace(run_info):
    FakeNamespaceEngine.reset(
        networks=[_network('shop', 'n1'), _network('blog', 'n2'), dict(Name='plain', Id='n3', Labels={})],
        volumes=[dict(Name='shop-data', Labels={ns.LABEL_NAMESPACE: 'shop'})],
        containers=[container('shop-web', service='web'), container('blog-db', namespace='blog', running=False, exit_code=1)],
        images=[dict(Id=IMAGE_ID, RepoDigests=['<none>@sha256:' + 'c' * 64])])
    result = run_info({})
    assert result['changed'] is False
    assert [item['name'] for item in result['namespaces']] == ['blog', 'shop']
    blog, shop = result['namespaces']
    assert (blog['status'], blog['owner'], blog['volumes']) == ('Unhealthy', 'team-blog', [])
    assert (shop['status'], shop['volumes'], shop['usage']['containers']) == ('Active', ['shop-data'], 1)
    assert shop['services'][0]['image_digest'] is None
    # One inspect per distinct image.
    assert [call for call in FakeNamespaceEngine.calls if call[0] == 'inspect_image'] == [('inspect_image', IMAGE_ID)]


def test_module_reads_one_namespace_and_skips_a_missing_image(run_info):
    FakeNamespaceEngine.reset(networks=[_network('shop', 'n1'), _network('blog', 'n2')],
                              containers=[container('shop-web'), container('blog-web', namespace='blog')])
    result = run_info(dict(name='shop'))
    assert [item['name'] for item in result['namespaces']] == ['shop']
    assert result['namespaces'][0]['services'][0]['image_digest'] is None
    missing = run_info(dict(name='nothing'))
    assert (missing.get('failed'), missing['changed'], missing['namespaces']) == (None, False, [])


def test_module_refuses_a_bad_name(run_info):
    FakeNamespaceEngine.reset()
    result = run_info(dict(name='Shop'))
    assert result['failed'] and 'not a lowercase DNS label' in result['msg']
    assert result['namespaces'] == []
