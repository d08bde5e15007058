# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the private namespace module_utils (no Docker engine needed)."""

from __future__ import annotations

import hypothesis
import netaddr
import pytest

from hypothesis import strategies

from ansible_collections.hna.cloudos.plugins.module_utils import _namespace as ns

GIB = 1024 ** 3
MIB = 1024 ** 2


# --- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize('name', ['a', 'shop', 'team-a', '0day', 'a1-b2-c3', 'x' * 63, '9'])
def test_valid_names(name):
    assert ns.validate_name(name) == name


@pytest.mark.parametrize('name, needle', [
    ('', 'empty'),
    (None, 'empty'),
    ('x' * 64, '64 characters long'),
    ('Shop', 'not a lowercase DNS label'),
    ('shop_1', 'not a lowercase DNS label'),
    ('-shop', 'not a lowercase DNS label'),
    ('shop-', 'not a lowercase DNS label'),
    ('shop.eu', 'not a lowercase DNS label'),
    ('sh op', 'not a lowercase DNS label'),
    ('bridge', 'reserved'),
    ('host', 'reserved'),
    ('none', 'reserved'),
])
def test_invalid_names(name, needle):
    with pytest.raises(ns.NamespaceError, match=needle):
        ns.validate_name(name)


def test_service_aliases():
    assert ns.service_aliases('shop', 'api') == ['api', 'api.shop']


# --- memory, cpus and quotas ------------------------------------------------------------------------


@pytest.mark.parametrize('value, expected', [
    (0, 0), (1024, 1024), ('1024', 1024), ('512m', 512 * MIB), ('4g', 4 * GIB), ('4G', 4 * GIB), ('4GiB', 4 * GIB),
    ('1.5g', int(1.5 * GIB)), ('2k', 2048), ('1t', 1024 ** 4), ('100b', 100), (' 8 m ', 8 * MIB),
])
def test_parse_memory(value, expected):
    assert ns.parse_memory(value) == expected


@pytest.mark.parametrize('value', ['', 'lots', '4x', '-1g', '1.2.3g', True, '4 gb extra'])
def test_parse_memory_rejects(value):
    with pytest.raises(ns.NamespaceError):
        ns.parse_memory(value)


@pytest.mark.parametrize('value, expected', [
    (4 * GIB, '4g'), (512 * MIB, '512m'), (int(1.5 * GIB), '1.5g'), (100, '100b'), (2048, '2k'), (None, 'unlimited'),
])
def test_format_memory(value, expected):
    assert ns.format_memory(value) == expected


def test_format_cpus():
    assert [ns.format_cpus(value) for value in (2, 2.0, 1.5, 0.25, 0, None)] == ['2', '2', '1.5', '0.25', '0', 'unlimited']


def test_normalize_quotas():
    assert ns.normalize_quotas(None) == dict(containers=None, volumes=None, cpus=None, memory=None)
    assert ns.normalize_quotas(dict(containers=3, volumes=None, cpus=1.5, memory='2g')) == dict(
        containers=3, volumes=None, cpus=1.5, memory=2 * GIB)
    with pytest.raises(ns.NamespaceError, match='quotas.containers'):
        ns.normalize_quotas(dict(containers=-1))
    with pytest.raises(ns.NamespaceError, match='quotas.memory'):
        ns.normalize_quotas(dict(memory='much'))
    with pytest.raises(ns.NamespaceError, match='quotas.cpus'):
        ns.normalize_quotas(dict(cpus='many'))
    with pytest.raises(ns.NamespaceError, match='Unknown quota gpus'):
        ns.normalize_quotas(dict(gpus=1))


def test_quota_labels_round_trip():
    quotas = dict(containers=5, volumes=0, cpus=2.5, memory=4 * GIB)
    labels = ns.quotas_to_labels(quotas)
    assert labels == {
        'io.hna.cloudos.ns.quota.containers': '5',
        'io.hna.cloudos.ns.quota.volumes': '0',
        'io.hna.cloudos.ns.quota.cpus': '2.5',
        'io.hna.cloudos.ns.quota.memory': str(4 * GIB),
    }
    assert ns.labels_to_quotas(labels) == quotas
    assert ns.quotas_to_labels(ns.normalize_quotas({})) == {}
    assert ns.labels_to_quotas({'io.hna.cloudos.ns.quota.cpus': 'bad'})['cpus'] is None


def test_namespace_labels_and_model():
    labels = ns.namespace_labels('shop', dict(region='eu', description='', owner='ops'),
                                 ns.normalize_quotas(dict(containers=2)), created='2024-01-01T00:00:00Z')
    assert labels == {
        'io.hna.cloudos.namespace': 'shop',
        'io.hna.cloudos.managed': 'true',
        'io.hna.cloudos.ns.region': 'eu',
        'io.hna.cloudos.ns.owner': 'ops',
        'io.hna.cloudos.ns.created': '2024-01-01T00:00:00Z',
        'io.hna.cloudos.ns.quota.containers': '2',
    }
    network = dict(Name='shop', Id='abc', Labels=dict(labels, other='kept'),
                   IPAM=dict(Config=[dict(Subnet='fd00::/64'), dict(Subnet='10.240.3.0/24', Gateway='10.240.3.1')]))
    model = ns.namespace_from_network(network)
    assert model == dict(name='shop', network='shop', network_id='abc', subnet='10.240.3.0/24', gateway='10.240.3.1',
                         region='eu', description='', owner='ops', created='2024-01-01T00:00:00Z', managed=True,
                         quotas=dict(containers=2, volumes=None, cpus=None, memory=None), metadata_volume=None)
    assert ns.own_labels(network['Labels']) == labels
    # A network whose namespace label names another network is not a namespace.
    assert ns.namespace_from_network(dict(network, Name='other')) is None
    assert ns.namespace_from_network(dict(Name='plain', Labels={})) is None


def test_quota_violations_arithmetic():
    quotas = dict(containers=3, volumes=None, cpus=2.0, memory=GIB)
    usage = dict(containers=2, volumes=7, cpus=1.5, memory=512 * MIB)
    # Fits exactly.
    assert ns.quota_violations(quotas, usage, add=dict(containers=1, cpus=0.5, memory=512 * MIB)) == []
    # One too many of each limited resource; volumes are unlimited.
    violations = ns.quota_violations(quotas, usage, add=dict(containers=2, volumes=100, cpus=0.6, memory=513 * MIB))
    assert [item['quota'] for item in violations] == ['containers', 'cpus', 'memory']
    assert violations[0] == dict(quota='containers', limit=3, in_use=2, released=0, asked=2, after=4)
    # Replacing a container frees what it used.
    assert ns.quota_violations(quotas, usage, add=dict(containers=2, cpus=1.0),
                               released=dict(containers=1, cpus=0.5)) == []


def test_quota_violations_allow_shrinking_when_already_over():
    quotas = dict(containers=1, volumes=None, cpus=None, memory=GIB)
    usage = dict(containers=3, volumes=0, cpus=0.0, memory=2 * GIB)
    # Replacing one container by one that needs less memory is fine, although still over quota.
    assert ns.quota_violations(quotas, usage, add=dict(containers=1, memory=256 * MIB),
                               released=dict(containers=1, memory=512 * MIB)) == []
    # Growing is not.
    assert [item['quota'] for item in ns.quota_violations(quotas, usage, add=dict(containers=1))] == ['containers']
    assert ns.over_quota(quotas, usage) == ['containers: 3 in use, quota 1', 'memory: 2g in use, quota 1g']


def test_quota_error_message_is_complete():
    violations = ns.quota_violations(dict(containers=2, volumes=None, cpus=None, memory=GIB),
                                     dict(containers=2, volumes=0, cpus=0, memory=768 * MIB),
                                     add=dict(containers=1, memory=512 * MIB), released=dict(memory=128 * MIB))
    message = ns.quota_error_message('shop', violations)
    assert message.startswith('Namespace shop quota exceeded')
    assert 'containers: 2 in use, 1 more asked, quota 2 (the change would use 3)' in message
    assert 'memory: 768m in use (128m freed by the containers being replaced), 512m more asked, quota 1g' in message
    assert 'Raise quotas.containers, quotas.memory of namespace shop (hna.cloudos.namespace)' in message
    assert 'remove containers or volumes' in message
    assert '\n' not in message


def test_available():
    quotas = dict(containers=3, volumes=None, cpus=2.0, memory=GIB)
    usage = dict(containers=5, volumes=1, cpus=0.5, memory=256 * MIB)
    assert ns.available_from(quotas, usage) == dict(containers=0, volumes=None, cpus=1.5, memory=768 * MIB)


def test_container_resources_and_usage():
    containers = [
        dict(HostConfig=dict(NanoCpus=1500000000, Memory=512 * MIB)),
        dict(HostConfig=dict(NanoCpus=0, CpuQuota=50000, CpuPeriod=100000, Memory=0)),
        dict(HostConfig={}),
    ]
    assert ns.container_resources(containers[0]) == dict(cpus=1.5, memory=512 * MIB)
    assert ns.container_resources(containers[1]) == dict(cpus=0.5, memory=0)
    assert ns.usage_from(containers, 2) == dict(containers=3, volumes=2, cpus=2.0, memory=512 * MIB)


# --- subnets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize('subnet', ['10.240.5.0/24', '172.16.0.0/16', '192.168.200.8/29', '172.31.255.0/24'])
def test_valid_subnets(subnet):
    assert ns.validate_subnet(subnet, ['172.17.0.0/16', ('lab', '10.231.0.0/24')]) == subnet


@pytest.mark.parametrize('subnet, needle', [
    ('10.240.5.1/24', 'has host bits set: the subnet of that address is 10.240.5.0/24'),
    ('10.240.5.0', 'is not a CIDR subnet'),
    ('10.240.500.0/24', 'is not a valid CIDR subnet'),
    ('banana/24', 'is not a valid CIDR subnet'),
    ('fd00::/64', 'is not IPv4'),
    ('8.8.8.0/24', 'is not private'),
    ('172.32.0.0/16', 'is not private'),
    ('10.0.0.0/15', 'must be a /16 to a /29'),
    ('10.240.0.0/30', 'must be a /16 to a /29'),
    ('10.231.0.0/16', 'overlaps the existing Docker subnet 10.231.0.0/24 (network lab)'),
    ('10.231.0.128/25', 'overlaps the existing Docker subnet 10.231.0.0/24 (network lab)'),
    ('172.17.4.0/24', 'overlaps the existing Docker subnet 172.17.0.0/16'),
])
def test_invalid_subnets(subnet, needle):
    with pytest.raises(ns.NamespaceError) as caught:
        ns.validate_subnet(subnet, ['172.17.0.0/16', ('lab', '10.231.0.0/24'), 'fd00::/64', 'not-a-subnet'])
    assert needle in str(caught.value)


def test_allocation_skips_taken_subnets():
    assert ns.allocate_subnet([]) == '10.240.0.0/24'
    assert ns.allocate_subnet(['10.240.0.0/24']) == '10.240.1.0/24'
    assert ns.allocate_subnet(['10.240.0.0/24', '10.240.2.0/24']) == '10.240.1.0/24'
    assert ns.allocate_subnet(['10.240.0.0/23']) == '10.240.2.0/24'
    assert ns.allocate_subnet(['10.240.0.8/29']) == '10.240.1.0/24'
    assert ns.allocate_subnet(['10.240.0.0/16', '10.241.0.0/24']) == '10.241.1.0/24'
    assert ns.allocate_subnet(['10.0.0.0/9']) == '10.240.0.0/24'
    assert ns.allocate_subnet(['10.240.0.0/26'], size=26) == '10.240.0.64/26'
    assert ns.allocate_subnet([('x', '192.168.0.0/24')], pool='192.168.0.0/16', size=20) == '192.168.16.0/20'


def test_allocation_errors():
    with pytest.raises(ns.NamespaceError, match='has no free /24 left'):
        ns.allocate_subnet(['10.240.0.0/12'])
    with pytest.raises(ns.NamespaceError, match='has no free /24 left'):
        ns.allocate_subnet(['10.0.0.0/8'], pool='10.240.0.0/23')
    with pytest.raises(ns.NamespaceError, match='larger than subnet_pool'):
        ns.allocate_subnet([], pool='10.240.0.0/24', size=20)
    with pytest.raises(ns.NamespaceError, match='subnet_size 30'):
        ns.allocate_subnet([], size=30)
    with pytest.raises(ns.NamespaceError, match='subnet_pool 8.8.0.0/16 is not private'):
        ns.allocate_subnet([], pool='8.8.0.0/16')


def _brute_force_free(existing, pool, size):
    nets = [netaddr.IPNetwork(cidr) for cidr in existing]
    for candidate in netaddr.IPNetwork(pool).subnet(size):
        if not any(candidate.first <= net.last and net.first <= candidate.last for net in nets):
            return str(candidate.cidr)
    return None


def test_allocation_matches_brute_force():
    subnet = strategies.builds(
        lambda offset, prefix: str(netaddr.IPNetwork('%s/%d' % (netaddr.IPAddress(0x0AF00000 + offset), prefix)).cidr),
        strategies.integers(min_value=0, max_value=4095), strategies.integers(min_value=20, max_value=29))

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(strategies.lists(subnet, max_size=12), strategies.integers(min_value=22, max_value=28))
    def check(existing, size):
        pool = '10.240.0.0/20'
        expected = _brute_force_free(existing, pool, size)
        if expected is None:
            with pytest.raises(ns.NamespaceError):
                ns.allocate_subnet(existing, pool, size)
        else:
            assert ns.allocate_subnet(existing, pool, size) == expected

    check()


def test_network_subnets():
    networks = [
        dict(Name='bridge', IPAM=dict(Config=[dict(Subnet='172.17.0.0/16', Gateway='172.17.0.1')])),
        dict(Name='host', IPAM=dict(Config=[])),
        dict(Name='dual', IPAM=dict(Config=[dict(Subnet='fd00::/64'), dict(Subnet='10.1.0.0/24')])),
        dict(Name='none', IPAM=None),
    ]
    assert ns.network_subnets(networks) == [('bridge', '172.17.0.0/16'), ('dual', '10.1.0.0/24')]


# --- states -----------------------------------------------------------------------------------------


def _inspect(status, exit_code=0, health=None, running=None):
    state = dict(Status=status, ExitCode=exit_code, Running=status == 'running' if running is None else running)
    if health:
        state['Health'] = dict(Status=health)
    return dict(State=state)


@pytest.mark.parametrize('container, expected', [
    (_inspect('running'), ('Active', None)),
    (_inspect('running', health='healthy'), ('Active', None)),
    (_inspect('running', health='starting'), ('Registering', None)),
    (_inspect('running', health='unhealthy'), ('Unhealthy', None)),
    (_inspect('restarting', exit_code=1), ('Registering', None)),
    (_inspect('created'), ('Stopped', None)),
    (_inspect('paused'), ('Stopped', None)),
    (_inspect('exited', exit_code=0), ('Stopped', None)),
    (_inspect('exited', exit_code=3), ('Exited', 3)),
    (_inspect('exited', exit_code=137, health='unhealthy'), ('Exited', 137)),
    (_inspect('dead', exit_code=1), ('Exited', 1)),
    ({}, ('Stopped', None)),
])
def test_container_state(container, expected):
    assert ns.container_state(container) == expected


@pytest.mark.parametrize('states, expected', [
    ([('Active', None)], ('Active', None)),
    ([('Active', None), ('Stopped', None)], ('Active', None)),
    ([('Stopped', None), ('Stopped', None)], ('Stopped', None)),
    ([('Active', None), ('Registering', None)], ('Registering', None)),
    ([('Registering', None), ('Unhealthy', None)], ('Unhealthy', None)),
    ([('Unhealthy', None), ('Exited', 2), ('Exited', 5)], ('Exited', 2)),
    ([], ('Stopped', None)),
])
def test_service_state(states, expected):
    assert ns.service_state(states) == expected


@pytest.mark.parametrize('states, expected', [
    ([], 'Empty'),
    (['Active', 'Active'], 'Active'),
    (['Active', 'Stopped'], 'Active'),
    (['Stopped'], 'Stopped'),
    (['Active', 'Registering'], 'Registering'),
    (['Registering', 'Exited'], 'Unhealthy'),
    (['Active', 'Unhealthy'], 'Unhealthy'),
])
def test_namespace_status(states, expected):
    assert ns.namespace_status(states) == expected


def test_service_name():
    assert ns.service_name(dict(Name='/shop-api-1', Config=dict(Labels={'io.hna.cloudos.service': 'api'}))) == 'api'
    assert ns.service_name(dict(Name='/lonely', Config=dict(Labels={}))) == 'lonely'
    assert ns.service_name(dict(Names=['/listed'], Labels={})) == 'listed'


# --- engine requests, against a fake engine ---------------------------------------------------------


class FakeNotFound(Exception):
    status_code = 404


class FakeAPIError(Exception):
    status_code = 500

    def __init__(self, explanation):
        super().__init__(explanation)
        self.explanation = explanation


class FakeAPI(object):
    """Just enough of docker.APIClient for the namespace helpers."""

    def __init__(self, networks=(), containers=(), volumes=()):
        self.networks_by_name = dict((network['Name'], network) for network in networks)
        self.container_list = list(containers)
        self.volume_list = list(volumes)
        self.calls = []

    def inspect_network(self, name):
        self.calls.append(('inspect_network', name))
        if name in self.networks_by_name:
            return self.networks_by_name[name]
        for network in self.networks_by_name.values():
            if network['Id'].startswith(name):
                return network
        raise FakeNotFound(name)

    def networks(self, filters=None):
        self.calls.append(('networks', filters))
        return list(self.networks_by_name.values())

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        self.calls.append(('containers', filters))
        label = (filters or {}).get('label')
        result = []
        for container in self.container_list:
            labels = container['Config'].get('Labels') or {}
            if label:
                key, dummy, value = label.partition('=')
                if key not in labels or (value and labels[key] != value):
                    continue
            if (filters or {}).get('network') and not any(
                    ep.get('NetworkID') in filters['network'] or net_name in filters['network']
                    for net_name, ep in container['NetworkSettings']['Networks'].items()):
                continue
            result.append(dict(Id=container['Id']))
        return result

    def inspect_container(self, ident):
        self.calls.append(('inspect_container', ident))
        for container in self.container_list:
            if container['Id'] == ident:
                return container
        raise FakeNotFound(ident)

    def volumes(self, filters=None):
        self.calls.append(('volumes', filters))
        key, equals, value = filters['label'].partition('=')
        return dict(Volumes=[volume for volume in self.volume_list
                             if key in volume['Labels'] and (not equals or volume['Labels'][key] == value)])

    def create_volume(self, name=None, driver=None, labels=None):
        self.calls.append(('create_volume', name, driver, labels))
        for volume in self.volume_list:
            if volume['Name'] == name:
                return dict(volume)  # as the engine does: the existing volume, unchanged
        volume = dict(Name=name, Driver=driver, Labels=dict(labels or {}))
        self.volume_list.append(volume)
        return dict(volume)

    def remove_volume(self, name):
        self.calls.append(('remove_volume', name))
        for volume in self.volume_list:
            if volume['Name'] == name:
                self.volume_list.remove(volume)
                return
        raise FakeNotFound(name)


def _network(name='shop', quotas=None, ident='net1'):
    labels = ns.namespace_labels(name, dict(region='eu'), ns.normalize_quotas(quotas), created='2024-01-01T00:00:00Z')
    return dict(Name=name, Id=ident, Driver='bridge', Labels=labels, Options={}, Internal=False, Attachable=False,
                EnableIPv6=False, IPAM=dict(Driver='default', Config=[dict(Subnet='10.240.0.0/24', Gateway='10.240.0.1')]))


def _container(name, namespace='shop', cpus=0.0, memory=0, running=True, address='10.240.0.2', aliases=None,
               static=None, service=None, ident=None):
    ident = ident or (name.replace('-', '') * 8)[:64]
    labels = {'io.hna.cloudos.namespace': namespace} if namespace else {}
    if service:
        labels['io.hna.cloudos.service'] = service
    return dict(
        Id=ident, Name='/' + name,
        Config=dict(Labels=labels, Image='hnatest/busybox:1'),
        State=dict(Status='running' if running else 'exited', Running=running, Paused=False, ExitCode=0),
        HostConfig=dict(NanoCpus=int(cpus * 1e9), Memory=memory),
        NetworkSettings=dict(Networks={namespace or 'shop': dict(
            # A container that does not run has no endpoint yet: no network ID (the engine finds it by network name).
            NetworkID='net1' if running else '', Aliases=(aliases or []) + [ident[:12]], IPAddress=address if running else '',
            IPAMConfig=dict(IPv4Address=static) if static else None, Links=None, DriverOpts=None)}),
    )


def test_unless_missing():
    api = FakeAPI(networks=[_network()])
    assert ns.unless_missing(api.inspect_network, 'shop')['Id'] == 'net1'
    assert ns.unless_missing(api.inspect_network, 'nothing') is None
    with pytest.raises(FakeAPIError):
        ns.unless_missing(_raise, FakeAPIError('engine broke'))


def _raise(exc):
    raise exc


def test_get_namespace_checks_the_name():
    api = FakeAPI(networks=[_network()])
    assert ns.get_namespace(api, 'shop')['region'] == 'eu'
    assert ns.get_namespace(api, 'nothing') is None
    # "net" is an ID prefix of the network shop: the engine answers with shop, which is not "net".
    assert ns.get_namespace(api, 'net') is None


def test_namespace_usage():
    api = FakeAPI(networks=[_network()], containers=[
        _container('a', cpus=0.5, memory=256 * MIB), _container('b', cpus=1.0, running=False),
        _container('other', namespace='elsewhere', cpus=4.0)],
        volumes=[dict(Name='v1', Labels={'io.hna.cloudos.namespace': 'shop'}), dict(Name='v2', Labels={})])
    assert ns.namespace_usage(api, 'shop') == dict(containers=2, volumes=1, cpus=1.5, memory=256 * MIB)


def test_check_quota():
    api = FakeAPI(networks=[_network(quotas=dict(containers=2, memory='1g'))], containers=[
        _container('a', memory=512 * MIB), _container('b', memory=256 * MIB)])
    ns.check_quota(api, 'shop', add_memory='256m')
    with pytest.raises(ns.NamespaceError) as caught:
        ns.check_quota(api, 'shop', add_containers=1, add_memory='512m')
    message = str(caught.value)
    assert 'Namespace shop quota exceeded' in message
    assert 'containers: 2 in use, 1 more asked, quota 2 (the change would use 3)' in message
    assert 'memory: 768m in use, 512m more asked, quota 1g (the change would use 1.25g)' in message
    # Replacing "b" (by name or by ID) frees its container and its memory.
    ns.check_quota(api, 'shop', add_containers=1, add_memory='512m', replacing=['b'])
    ns.check_quota(api, ns.get_namespace(api, 'shop'), add_containers=1, add_memory='512m',
                   replacing=[_container('b')['Id'][:12]])


def test_check_quota_without_quotas_or_namespace():
    api = FakeAPI(networks=[_network()])
    ns.check_quota(api, 'shop', add_containers=100, add_memory='100g')
    assert not [call for call in api.calls if call[0] == 'containers']
    with pytest.raises(ns.NamespaceError, match='Namespace nothing does not exist: create it first'):
        ns.check_quota(api, 'nothing', add_containers=1)


# --- metadata volumes -------------------------------------------------------------------------------


def _meta(name='shop', network_id='net1', generation=1, region='eu', quotas=None, volume_name=None, **extra):
    labels = ns.metadata_volume_labels(name, network_id, generation, ns.namespace_labels(
        name, dict(region=region), ns.normalize_quotas(quotas), created='2024-01-01T00:00:00Z'))
    labels.update(extra)
    return dict(Name=volume_name or ns.metadata_volume_name(name, generation), Driver='local', Labels=labels)


def test_metadata_volume_labels_hold_the_data_and_no_namespace_label():
    labels = _meta(region='us', quotas=dict(containers=3))['Labels']
    assert labels == {
        'io.hna.cloudos.managed': 'true',
        'io.hna.cloudos.namespace-meta': 'shop',
        'io.hna.cloudos.namespace-meta.network': 'net1',
        'io.hna.cloudos.namespace-meta.generation': '1',
        'io.hna.cloudos.ns.region': 'us',
        'io.hna.cloudos.ns.created': '2024-01-01T00:00:00Z',
        'io.hna.cloudos.ns.quota.containers': '3',
    }
    # Not one of the namespace's volumes: it never counts against the volumes quota.
    assert 'io.hna.cloudos.namespace' not in labels
    assert ns.metadata_volume_name('shop', 12) == 'shop.namespace-meta.12'


def test_the_newest_valid_metadata_volume_wins():
    one, two = _meta(generation=1, region='one'), _meta(generation=2, region='two')
    assert ns.newest_metadata_volume([two, one], 'shop', 'net1') is two
    assert ns.newest_metadata_volume([one, two], 'shop', 'net1') is two
    # Generations compare as numbers, not as text.
    ten = _meta(generation=10, region='ten')
    assert ns.newest_metadata_volume([two, ten, one], 'shop', 'net1') is ten
    # Not valid: another namespace, a network of the same name removed since, a generation that cannot be read.
    others = [
        _meta(name='other', generation=5),
        _meta(network_id='old-net', generation=6),
        _meta(generation=7, **{'io.hna.cloudos.namespace-meta.generation': 'x'}),
        _meta(generation=8, **{'io.hna.cloudos.namespace-meta.generation': '0'}),
        _meta(generation=9, **{'io.hna.cloudos.namespace-meta.generation': '-9'}),
    ]
    assert ns.newest_metadata_volume(others + [one], 'shop', 'net1') is one
    assert ns.newest_metadata_volume(others, 'shop', 'net1') is None
    assert ns.newest_metadata_volume([], 'shop', 'net1') is None
    assert ns.newest_metadata_volume([one], 'shop', '') is None


def test_next_generation_is_above_every_metadata_volume_of_the_namespace():
    assert ns.next_generation([], 'shop') == 1
    # A volume left by a removed network of the same name counts too: its name is taken.
    assert ns.next_generation([_meta(generation=1), _meta(network_id='old-net', generation=4)], 'shop') == 5
    assert ns.next_generation([_meta(name='other', generation=9)], 'shop') == 1


def test_the_model_reads_the_metadata_volume_first_and_the_network_labels_otherwise():
    network = _network(quotas=dict(containers=5))
    legacy = ns.namespace_from_network(network)
    assert (legacy['region'], legacy['quotas']['containers'], legacy['metadata_volume']) == ('eu', 5, None)
    volume = _meta(region='', quotas=dict(memory='1g'), generation=3)
    del volume['Labels']['io.hna.cloudos.ns.created']
    model = ns.namespace_from_network(network, volume)
    assert model['region'] == ''
    assert model['quotas'] == dict(containers=None, volumes=None, cpus=None, memory=GIB)
    assert model['metadata_volume'] == 'shop.namespace-meta.3'
    # The network keeps what cannot change: name, ID, subnet, created time when the volume lacks it.
    assert (model['network_id'], model['subnet'], model['created']) == ('net1', '10.240.0.0/24', '2024-01-01T00:00:00Z')


def test_get_and_list_namespaces_use_the_metadata_volume():
    api = FakeAPI(networks=[_network(quotas=dict(containers=5)), _network(name='legacy', ident='net2')],
                  volumes=[_meta(generation=1, region='old'), _meta(generation=2, region='new', quotas=dict(containers=1)),
                           _meta(network_id='gone', generation=3, region='stale')])
    model = ns.get_namespace(api, 'shop')
    assert (model['region'], model['quotas']['containers'], model['metadata_volume']) == ('new', 1, 'shop.namespace-meta.2')
    assert ns.get_namespace(api, 'legacy')['region'] == 'eu'
    listed = dict((item['name'], item) for item in ns.list_namespaces(api))
    assert listed['shop'] == model
    assert listed['legacy']['metadata_volume'] is None


def test_check_quota_reads_the_metadata_volume():
    # The network labels still say 5 containers; the metadata volume lowered it to 1.
    api = FakeAPI(networks=[_network(quotas=dict(containers=5))], containers=[_container('a')],
                  volumes=[_meta(quotas=dict(containers=1))])
    with pytest.raises(ns.NamespaceError, match='containers: 1 in use, 1 more asked, quota 1'):
        ns.check_quota(api, 'shop', add_containers=1)
    ns.check_quota(api, 'shop', add_containers=1, replacing=['a'])


def test_metadata_volumes_do_not_count_as_namespace_volumes():
    api = FakeAPI(networks=[_network()], volumes=[_meta(), dict(Name='data', Labels={'io.hna.cloudos.namespace': 'shop'})])
    assert ns.namespace_usage(api, 'shop')['volumes'] == 1
    assert [volume['Name'] for volume in ns.metadata_volumes(api, 'shop')] == ['shop.namespace-meta.1']


def test_create_metadata_volume_and_remove_the_old_ones():
    api = FakeAPI(networks=[_network()], volumes=[_meta()])
    labels = ns.namespace_labels('shop', dict(owner='ops'), ns.normalize_quotas({}), created='2024-01-01T00:00:00Z')
    created = ns.create_metadata_volume(api, 'shop', 'net1', labels, 2)
    assert created['Name'] == 'shop.namespace-meta.2'
    assert ns.get_namespace(api, 'shop')['owner'] == 'ops'
    assert ns.remove_volumes(api, ['shop.namespace-meta.1', 'already-gone']) == ['shop.namespace-meta.1', 'already-gone']
    assert [volume['Name'] for volume in api.volume_list] == ['shop.namespace-meta.2']


def test_create_metadata_volume_refuses_a_volume_of_that_name_with_other_labels():
    # Docker answers a create for an existing name with the existing volume: it must not pass for the new metadata.
    api = FakeAPI(networks=[_network()], volumes=[dict(Name='shop.namespace-meta.2', Labels={'someone': 'else'})])
    labels = ns.namespace_labels('shop', dict(owner='ops'), ns.normalize_quotas({}))
    with pytest.raises(ns.NamespaceError, match='the volume shop.namespace-meta.2 already exists and is not the metadata '
                                                'volume'):
        ns.create_metadata_volume(api, 'shop', 'net1', labels, 2)


def test_create_metadata_volume_sees_another_run_that_wrote_the_same_generation():
    api = FakeAPI(networks=[_network()], volumes=[_meta(generation=2, region='theirs')])
    labels = ns.namespace_labels('shop', dict(region='mine'), ns.normalize_quotas({}), created='2024-01-01T00:00:00Z')
    with pytest.raises(ns.NamespaceError, match='another run wrote its metadata volume shop.namespace-meta.2 while this one '
                                                'ran: run the task again'):
        ns.create_metadata_volume(api, 'shop', 'net1', labels, 2)
    assert ns.get_namespace(api, 'shop')['region'] == 'theirs'


def test_carried_volumes():
    label = 'io.hna.cloudos.engine.anonymous-volumes'
    containers = [
        dict(Labels={label: 'abc123, def456,,abc123'}),
        dict(Config=dict(Labels={label: 'ghi789,bad name,/etc'})),
        dict(Labels={}),
        None,
    ]
    assert ns.carried_volumes(containers) == ['abc123', 'def456', 'ghi789']
    assert ns.carried_volumes([]) == []
