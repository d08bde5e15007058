# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the private container engine module_utils (no Docker engine needed)."""

from __future__ import annotations

import copy

import docker
import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc
from ansible_collections.hna.cloudos.plugins.module_utils import _docker_engine as de

IMAGE_ID = 'sha256:' + 'a' * 64
OTHER_IMAGE_ID = 'sha256:' + 'b' * 64
CONTAINER_ID = 'c0ffee' * 10 + 'abcd'

IMAGE = {
    'Id': IMAGE_ID,
    'Config': {
        'Env': ['PATH=/bin', 'APP_MODE=image-default'],
        'Cmd': ['httpd', '-f', '-p', '8080'],
        'Entrypoint': None,
        'Labels': {'org.example.from-image': 'yes'},
        'Healthcheck': {'Test': ['CMD-SHELL', 'wget -q http://127.0.0.1:8080/'], 'Interval': 1000000000,
                        'Timeout': 2000000000, 'Retries': 3},
        'WorkingDir': '',
        'User': '',
    },
}


def make_spec(**kwargs):
    kwargs.setdefault('name', 'web')
    kwargs.setdefault('image', 'hnatest/web:1')
    return de.container_spec(**kwargs)


def container_for(spec, image=None, running=True, health=None):
    """Return what the engine's inspect would say of a container created from ``spec`` on ``image`` (default IMAGE)."""
    image = IMAGE if image is None else image
    config, later = de.create_config(spec)
    image_config = image['Config']
    env = de._env_map(image_config.get('Env'))
    env.update(spec['env'])
    labels = dict(image_config.get('Labels') or {})
    labels.update(config['Labels'])
    if spec['entrypoint'] is not None:
        entrypoint, cmd = spec['entrypoint'], spec['command'] or []
    else:
        entrypoint = image_config.get('Entrypoint')
        cmd = spec['command'] if spec['command'] is not None else image_config.get('Cmd')
    health_config = config.get('Healthcheck')
    if health_config is None:
        health_config = image_config.get('Healthcheck')
    elif health_config.get('Test') != ['NONE']:
        merged = dict(image_config.get('Healthcheck') or {})
        merged.update(health_config)
        health_config = merged
    host_config = copy.deepcopy(config['HostConfig'])
    host_config.setdefault('LogConfig', {'Type': 'json-file', 'Config': {}})
    if not host_config['LogConfig'].get('Type'):  # the engine's default driver
        host_config['LogConfig']['Type'] = 'json-file'
    host_config.setdefault('NetworkMode', 'default')
    networks = {}
    for entry in de.desired_networks(spec):
        endpoint = {'Aliases': (entry['aliases'] + [CONTAINER_ID[:12]]) if entry['name'] != 'bridge' else None,
                    'IPAMConfig': {'IPv4Address': entry['ipv4_address']} if entry['ipv4_address'] else None,
                    'IPAddress': '10.0.0.2'}
        networks[entry['name']] = endpoint
    state = {'Status': 'running' if running else 'exited', 'Running': running, 'Restarting': False, 'ExitCode': 0}
    if health:
        state['Health'] = {'Status': health, 'Log': [{'ExitCode': 0, 'Output': 'ok'}]}
    exposed = dict(image_config.get('ExposedPorts') or {})
    exposed.update(config.get('ExposedPorts') or {})
    container_config = dict((key, value) for key, value in config.items() if key not in ('HostConfig', 'NetworkingConfig'))
    container_config.update({
        'Image': spec['image'], 'Hostname': spec['hostname'] or CONTAINER_ID[:12], 'Env': ['%s=%s' % kv for kv in env.items()],
        'Cmd': cmd, 'Entrypoint': entrypoint, 'Labels': labels, 'Healthcheck': health_config,
        'User': spec['user'] or image_config.get('User') or '', 'WorkingDir': spec['working_dir'] or '',
        'StopTimeout': spec['stop_timeout'], 'ExposedPorts': exposed,
    })
    return {
        'Id': CONTAINER_ID,
        'Name': '/' + spec['name'],
        'Image': image['Id'],
        'State': state,
        'Config': container_config,
        'HostConfig': host_config,
        'NetworkSettings': {'Networks': networks, 'Ports': {}},
    }


def fields(diffs):
    return sorted(d['field'] for d in diffs)


# --- parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize('value, expected', [
    ('512m', 512 * 1024 ** 2), ('1g', 1024 ** 3), ('1.5GiB', int(1.5 * 1024 ** 3)), ('64MB', 64 * 1024 ** 2),
    ('100', 100), (2048, 2048), ('10k', 10240), (None, None), ('0', None), (0, None),
])
def test_parse_size(value, expected):
    assert de.parse_size(value) == expected


@pytest.mark.parametrize('value', ['lots', '12x', '-1m', True, '1 0m'])
def test_parse_size_refuses_and_names_the_option(value):
    with pytest.raises(de.SpecError, match='^memory: '):
        de.parse_size(value, 'memory')


@pytest.mark.parametrize('value, expected', [
    ('30s', 30 * 10 ** 9), ('1m30s', 90 * 10 ** 9), ('500ms', 5 * 10 ** 8), ('1h', 3600 * 10 ** 9), (5, 5 * 10 ** 9),
    ('2', 2 * 10 ** 9), ('1.5s', 15 * 10 ** 8), (None, None),
])
def test_parse_duration(value, expected):
    assert de.parse_duration(value) == expected


@pytest.mark.parametrize('value', ['soon', '1m30', 's', '1d', '5 s', True])
def test_parse_duration_refuses(value):
    with pytest.raises(de.SpecError, match='^healthcheck.interval: '):
        de.parse_duration(value, 'healthcheck.interval')


@pytest.mark.parametrize('value, expected', [
    ('127.0.0.1:8080:80/tcp', (80, 'tcp', '127.0.0.1', 8080)),
    ('8080:80', (80, 'tcp', '', 8080)),
    ('80', (80, 'tcp', '', None)),
    (53, (53, 'tcp', '', None)),
    ('53:53/udp', (53, 'udp', '', 53)),
    ('127.0.0.1::80', (80, 'tcp', '127.0.0.1', None)),
    ('0.0.0.0:8080:80', (80, 'tcp', '', 8080)),
    ('[::1]:8443:443', (443, 'tcp', '::1', 8443)),
    ({'container_port': 80, 'host_port': 8080}, (80, 'tcp', '', 8080)),
])
def test_parse_port(value, expected):
    ports = de.parse_port(value)
    assert len(ports) == 1
    port = ports[0]
    assert (port['container_port'], port['protocol'], port['host_ip'], port['host_port']) == expected


@pytest.mark.parametrize('value, needle', [
    ('abc', 'not a number'), ('8080:80/xyz', 'protocol'), ('1.2.3:80:80', 'not an IP address'),
    ('70000:80', 'outside 1-65535'), ('8000-8002:80-81', 'the ranges must have the same length'),
    ('1:2:3:4', 'is not [HOST_IP:][HOST_PORT:]CONTAINER_PORT'), ('90-80', 'ends before it starts'),
])
def test_parse_port_refuses(value, needle):
    with pytest.raises(de.SpecError) as caught:
        de.parse_port(value)
    assert str(caught.value).startswith('ports: ')
    assert needle in str(caught.value)


def test_parse_volume():
    assert de.parse_volume('data:/var/lib/mysql') == dict(type='volume', source='data', target='/var/lib/mysql', read_only=False)
    assert de.parse_volume('/srv/x/:/x:ro') == dict(type='bind', source='/srv/x', target='/x', read_only=True)
    assert de.parse_volume('/cache') == dict(type='volume', source=None, target='/cache', read_only=False)
    for bad in ('data:relative', './x:/x', 'data:/x:zz', 'a:b:c:d', ''):
        with pytest.raises(de.SpecError, match='^volumes: '):
            de.parse_volume(bad)


def test_healthcheck_normalisation():
    assert de.normalise_healthcheck({'test': 'curl -f http://x/', 'interval': '10s'}) == dict(
        test=['CMD-SHELL', 'curl -f http://x/'], interval=10 ** 10, timeout=None, retries=None, start_period=None,
        start_interval=None)
    assert de.normalise_healthcheck({'test': ['true']})['test'] == ['CMD', 'true']
    assert de.normalise_healthcheck({'test': ['CMD-SHELL', 'true']})['test'] == ['CMD-SHELL', 'true']
    assert de.normalise_healthcheck({'disable': True})['test'] == ['NONE']
    with pytest.raises(de.SpecError, match='^healthcheck.timeout: '):
        de.normalise_healthcheck({'test': 'x', 'timeout': 'forever'})


def test_restart_policy():
    assert de.normalise_restart_policy('on-failure:3') == dict(name='on-failure', max_retries=3)
    assert de.normalise_restart_policy('always', 5) == dict(name='always', max_retries=0)
    assert de.normalise_restart_policy(None) == dict(name='no', max_retries=0)
    with pytest.raises(de.SpecError, match='^restart_policy: '):
        de.normalise_restart_policy('sometimes')


def test_spec_is_complete_and_labelled():
    spec = make_spec(env={'B': 2, 'A': 'x'}, namespace='shop', command='sh -c "echo hi"')
    assert set(spec) == set(de.SPEC_FIELDS)
    assert spec['env'] == {'A': 'x', 'B': '2'}
    assert spec['command'] == ['sh', '-c', 'echo hi']
    assert spec['labels'][de.LABEL_MANAGED] == 'true'
    assert spec['labels'][de.LABEL_NAMESPACE] == 'shop'
    assert spec['labels'][de.LABEL_SERVICE] == 'web'
    assert spec['networks'] == [dict(name='shop', aliases=['web', 'web.shop'], ipv4_address=None)]


@pytest.mark.parametrize('kwargs, prefix', [
    (dict(memory='lots'), 'memory: '),
    (dict(ports=['abc']), 'ports: '),
    (dict(env={'DEBUG': True}), 'env: '),
    (dict(labels={'io.hna.cloudos.managed': 'x'}), 'labels: '),
    (dict(cpus='many'), 'cpus: '),
    (dict(volumes=['a:/x', 'b:/x']), 'volumes/mounts: '),
    (dict(networks=[{'name': 'bridge', 'aliases': ['x']}]), 'networks: '),
    (dict(networks=[{'name': 'n', 'ipv4_address': '300.1.1.1'}]), 'networks: '),
    (dict(name='x'), 'name: '),
])
def test_spec_errors_name_the_option(kwargs, prefix):
    with pytest.raises(de.SpecError) as caught:
        make_spec(**kwargs)
    assert str(caught.value).startswith(prefix)


# --- comparison -------------------------------------------------------------------------------------


FULL = dict(env={'A': '1', 'B': '2'}, labels={'tier': 'web', 'team': 'x'}, ports=['127.0.0.1:8080:8080', '9090'],
            networks=[{'name': 'front', 'aliases': ['www', 'site']}, {'name': 'back'}], memory='64m', cpus=0.5,
            restart_policy='always', healthcheck={'test': 'true', 'retries': 1}, init=True, user='nobody',
            volumes=['data:/data', '/srv:/srv:ro'], mounts=[{'type': 'tmpfs', 'target': '/run'}], stop_timeout=3,
            hostname='web1', log_driver='local', log_options={'max-size': '1m'})


def test_same_spec_has_no_difference():
    spec = make_spec(**FULL)
    assert de.compare(spec, container_for(spec), IMAGE) == []
    bare = make_spec()
    assert de.compare(bare, container_for(bare), IMAGE) == []


@pytest.mark.parametrize('change, field, in_place', [
    (dict(env={'A': '1'}), 'env', False),
    (dict(labels={'tier': 'web'}), 'labels', False),
    (dict(ports=['127.0.0.1:8080:8080']), 'ports', False),
    (dict(ports=['127.0.0.1:8081:8080', '9090']), 'ports', False),
    (dict(networks=[{'name': 'front', 'aliases': ['www']}, {'name': 'back'}]), 'networks', True),
    (dict(networks=[{'name': 'front', 'aliases': ['www', 'site']}]), 'networks', True),
    (dict(memory='128m'), 'memory', True),
    (dict(memory=None), 'memory', False),
    (dict(cpus=1.0), 'cpus', True),
    (dict(restart_policy='no'), 'restart_policy', True),
    (dict(healthcheck=None), 'healthcheck', False),
    (dict(init=None), 'init', False),
    (dict(user=None), 'user', False),
    (dict(volumes=['data:/data']), 'mounts', False),
    (dict(stop_timeout=None), 'stop_timeout', False),
    (dict(hostname=None), 'hostname', False),
    (dict(log_options={}), 'log_options', False),
    (dict(command=['sleep', '1']), 'command', False),
])
def test_removed_or_changed_field_is_a_difference(change, field, in_place):
    old = make_spec(**FULL)
    container = container_for(old)
    options = dict(FULL)
    options.update(change)
    diffs = de.compare(make_spec(**options), container, IMAGE)
    assert fields(diffs) == [field]
    assert diffs[0]['in_place'] is in_place


def test_removing_an_env_var_that_overrides_the_image_gives_back_the_image_value():
    container = container_for(make_spec(env={'APP_MODE': 'custom'}))
    diffs = de.compare(make_spec(), container, IMAGE)
    assert fields(diffs) == ['env']
    assert diffs[0]['before']['APP_MODE'] == 'custom'
    assert diffs[0]['after']['APP_MODE'] == 'image-default'


def test_image_is_compared_by_id():
    spec = make_spec()
    container = container_for(spec)
    moved = copy.deepcopy(IMAGE)
    moved['Id'] = OTHER_IMAGE_ID
    diffs = de.compare(spec, container, moved)
    assert fields(diffs) == ['image']
    assert not diffs[0]['in_place']
    assert fields(de.compare(spec, container, None)) == ['image']


def test_engine_added_alias_is_ignored_but_a_declared_one_is_not():
    spec = make_spec(networks=[{'name': 'front', 'aliases': ['www']}])
    container = container_for(spec)
    assert CONTAINER_ID[:12] in container['NetworkSettings']['Networks']['front']['Aliases']
    assert de.compare(spec, container, IMAGE) == []
    declared = make_spec(networks=[{'name': 'front', 'aliases': ['www', CONTAINER_ID[:12]]}])
    assert de.compare(declared, container, IMAGE) == []
    container['NetworkSettings']['Networks']['front']['Aliases'].append('stale')
    assert fields(de.compare(spec, container, IMAGE)) == ['networks']


def test_image_defaults_are_not_differences():
    spec = make_spec(healthcheck={'interval': '5s'})
    container = container_for(spec)
    assert container['Config']['Healthcheck']['Test'] == IMAGE['Config']['Healthcheck']['Test']
    assert de.compare(spec, container, IMAGE) == []


def test_log_driver_default_and_declared():
    spec = make_spec()
    container = container_for(spec)
    container['HostConfig']['LogConfig'] = {'Type': 'journald', 'Config': {'tag': 'x'}}
    assert fields(de.compare(spec, container, IMAGE)) == ['log_driver']
    assert de.compare(spec, container, IMAGE, default_log_driver='journald') == []
    assert fields(de.compare(make_spec(log_driver='local'), container, IMAGE, 'journald')) == ['log_driver', 'log_options']
    # Options of the engine's default driver that the task does not declare may be the engine's defaults.
    assert de.compare(make_spec(log_options={}), container, IMAGE, default_log_driver='journald') == []
    assert fields(de.compare(make_spec(log_options={'tag': 'y'}), container, IMAGE, 'journald')) == ['log_options']


# --- the options added with the table, against what the engine fills in ------------------------------


NEW_OPTIONS = dict(cap_add=['net_admin', 'CAP_SYS_TIME'], cap_drop=['MKNOD'], ulimits={'nofile': {'soft': 1024, 'hard': 2048}, 'nproc': 512},
                   devices=['/dev/null:/dev/hnanull:rw'], extra_hosts={'db.example': '10.1.2.3'}, dns=['10.0.0.53'],
                   dns_search=['example.com'], read_only=True, tmpfs={'/run': 'size=1m'}, sysctls={'net.core.somaxconn': 1024},
                   shm_size='128m', security_opt=['no-new-privileges:true'], pid='host', ipc='host', expose=[8081, '53/udp'],
                   tty=True, interactive=True)


def engine_fills_in(container):
    """What the engine adds to a container it creates (defaults it reports on inspect)."""
    host_config = container['HostConfig']
    host_config.setdefault('ShmSize', 64 * 1024 ** 2)
    host_config.setdefault('IpcMode', 'private')
    return container


def test_new_options_settle_against_the_created_container():
    spec = make_spec(**NEW_OPTIONS)
    container = engine_fills_in(container_for(spec))
    assert de.compare(spec, container, IMAGE) == []
    bare = make_spec()
    assert de.compare(bare, engine_fills_in(container_for(bare)), IMAGE) == []


@pytest.mark.parametrize('option', sorted(NEW_OPTIONS))
def test_each_new_option_removed_or_added_is_a_replacement(option):
    with_option = make_spec(**{option: NEW_OPTIONS[option]})
    bare = make_spec()
    for old, new in ((with_option, bare), (bare, with_option)):
        diffs = de.compare(new, engine_fills_in(container_for(old)), IMAGE)
        assert fields(diffs) == [option]
        assert diffs[0]['in_place'] is False


@pytest.mark.parametrize('declared, actual', [
    (dict(cap_add=['NET_ADMIN']), dict(CapAdd=['CAP_NET_ADMIN'])),
    (dict(cap_add=['cap_net_admin']), dict(CapAdd=['NET_ADMIN'])),
    (dict(shm_size='64m'), dict(ShmSize=64 * 1024 ** 2)),
    (dict(), dict(ShmSize=64 * 1024 ** 2)),
    (dict(), dict(IpcMode='shareable')),
    (dict(), dict(IpcMode='private')),
    (dict(ulimits={'nofile': 1024}), dict(Ulimits=[{'Name': 'nofile', 'Soft': 1024, 'Hard': 1024}])),
    (dict(ulimits=['nofile=1024:2048']), dict(Ulimits=[{'Name': 'nofile', 'Soft': 1024, 'Hard': 2048}])),
    (dict(devices=['/dev/null']), dict(Devices=[{'PathOnHost': '/dev/null', 'PathInContainer': '/dev/null', 'CgroupPermissions': 'rwm'}])),
    (dict(extra_hosts=['a.example=10.0.0.1']), dict(ExtraHosts=['a.example:10.0.0.1'])),
])
def test_engine_spellings_and_defaults_are_no_difference(declared, actual):
    spec = make_spec(**declared)
    container = container_for(spec)
    container['HostConfig'].update(actual)
    assert de.compare(spec, container, IMAGE) == []


def test_security_opt_the_engine_adds_for_host_namespaces_is_no_difference():
    spec = make_spec(pid='host', security_opt=['no-new-privileges:true'])
    container = container_for(spec)
    container['HostConfig']['SecurityOpt'] = ['label=disable', 'no-new-privileges:true']
    assert de.compare(spec, container, IMAGE) == []
    assert fields(de.compare(make_spec(pid='host'), container, IMAGE)) == ['security_opt']


def test_ipc_declared_is_compared_and_an_undeclared_non_default_is_a_difference():
    spec = make_spec()
    container = container_for(spec)
    container['HostConfig']['IpcMode'] = 'host'
    assert fields(de.compare(spec, container, IMAGE)) == ['ipc']
    container['HostConfig']['IpcMode'] = 'private'
    assert fields(de.compare(make_spec(ipc='shareable'), container, IMAGE)) == ['ipc']


def test_tmpfs_option_is_not_confused_with_tmpfs_mounts():
    as_option = make_spec(tmpfs=['/run'])
    as_mount = make_spec(mounts=[{'type': 'tmpfs', 'target': '/run'}])
    assert de.compare(as_option, container_for(as_option), IMAGE) == []
    assert de.compare(as_mount, container_for(as_mount), IMAGE) == []
    assert fields(de.compare(as_option, container_for(as_mount), IMAGE)) == ['mounts', 'tmpfs']
    with pytest.raises(de.SpecError, match='mounted twice'):
        make_spec(tmpfs=['/run'], volumes=['/run'])


def test_start_interval_is_sent_and_compared_only_from_api_1_44():
    spec = make_spec(healthcheck={'test': 'true', 'start_period': '30s', 'start_interval': '1s'})
    assert 'StartInterval' not in de.create_config(spec, '1.41')[0]['Healthcheck']
    assert de.create_config(spec, '1.44')[0]['Healthcheck']['StartInterval'] == 10 ** 9
    container = container_for(spec)
    assert de.compare(spec, container, IMAGE) == []
    assert de.compare(spec, container, IMAGE, api_version='1.41') == []
    assert fields(de.compare(spec, container, IMAGE, api_version='1.44')) == ['healthcheck']
    # An engine that reports a StartInterval knows it, whatever API version the caller gave.
    container['Config']['Healthcheck']['StartInterval'] = 2 * 10 ** 9
    assert fields(de.compare(spec, container, IMAGE)) == ['healthcheck']
    container['Config']['Healthcheck']['StartInterval'] = 10 ** 9
    assert de.compare(spec, container, IMAGE) == []


def test_cpus_are_a_quota_changed_in_place_but_nano_cpus_need_a_replacement():
    spec = make_spec(cpus=0.5)
    container = container_for(spec)
    assert de.compare(spec, container, IMAGE) == []
    diffs = de.compare(make_spec(cpus=1), container, IMAGE)
    assert [(d['field'], d['in_place']) for d in diffs] == [('cpus', True)]
    assert de.update_body(make_spec(cpus=1), diffs, container) == dict(cpu_period=100000, cpu_quota=100000)
    old = container_for(make_spec())
    old['HostConfig']['NanoCpus'] = 500000000
    assert de.compare(spec, old, IMAGE) == []
    assert [(d['field'], d['in_place']) for d in de.compare(make_spec(cpus=1), old, IMAGE)] == [('cpus', False)]


def test_update_uses_the_public_sdk_method():
    old = container_for(make_spec(memory='64m', cpus=0.5))
    api = FakeAPI(old)
    engine = de.ContainerEngine(FakeClient(), api=api)
    plan = engine.plan(make_spec(memory='128m', cpus=1, restart_policy='always'), 'started', image=IMAGE)
    assert plan['actions'] == ['update']
    engine.apply(plan, quota=False)
    assert ('update', CONTAINER_ID, dict(mem_limit=128 * 1024 ** 2, memswap_limit=256 * 1024 ** 2, cpu_period=100000,
                                         cpu_quota=100000, restart_policy={'Name': 'always', 'MaximumRetryCount': 0})) in api.calls


# --- reruns that settle ---------------------------------------------------------------------------


def test_ipv6_wildcard_port_settles():
    spec = make_spec(ports=['[::]:8080:80'])
    container = container_for(spec)
    assert container['HostConfig']['PortBindings'] == {'80/tcp': [{'HostIp': '::', 'HostPort': '8080'}]}
    assert de.compare(spec, container, IMAGE) == []


def test_empty_command_settles():
    spec = make_spec(command=[])
    container = container_for(spec)
    container['Config']['Cmd'] = IMAGE['Config']['Cmd']  # the engine takes the image's command for an empty one
    assert de.compare(spec, container, IMAGE) == []


def test_hostname_alias_added_by_the_engine_settles():
    spec = make_spec(hostname='web1', networks=[{'name': 'front', 'aliases': ['www']}])
    container = container_for(spec)
    container['NetworkSettings']['Networks']['front']['Aliases'].append('web1')
    assert de.compare(spec, container, IMAGE) == []


def test_address_pinned_at_a_reconnection_is_no_difference():
    spec = make_spec(namespace='shop')
    container = container_for(spec)
    container['NetworkSettings']['Networks']['shop']['IPAMConfig'] = {'IPv4Address': '10.240.5.2'}
    assert de.compare(spec, container, IMAGE) == []
    pinned = make_spec(networks=[{'name': 'shop', 'ipv4_address': '10.240.5.3'}])
    assert fields(de.compare(pinned, container, IMAGE)) == ['labels', 'networks']


def test_anonymous_volume_matches_a_volume_of_any_name():
    spec = make_spec(volumes=['/data'])
    container = container_for(spec)
    container['HostConfig']['Mounts'][0]['Source'] = 'f' * 64
    assert de.compare(spec, container, IMAGE) == []
    assert fields(de.compare(make_spec(volumes=['other:/data']), container, IMAGE)) == ['mounts']


def test_engine_bookkeeping_labels_and_the_old_spec_hash_are_not_compared():
    spec = make_spec()
    container = container_for(spec)
    container['Config']['Labels'].update({'io.hna.cloudos.spec-hash': 'a' * 64, 'io.hna.cloudos.engine.volumes': '/data=x'})
    assert de.compare(spec, container, IMAGE) == []
    assert not hasattr(de, 'spec_hash') and not hasattr(de, 'LABEL_SPEC_HASH') and not hasattr(de, 'IN_PLACE_FIELDS')


# --- validation before anything changes --------------------------------------------------------------


@pytest.mark.parametrize('kwargs, needle', [
    (dict(stop_timeout=-1), 'stop_timeout: must be between 0'),
    (dict(image='UPPER/case'), 'image: is not a valid image reference'),
    (dict(image='busybox::1'), 'image: is not a valid image reference'),
    (dict(hostname='bad_host!'), 'hostname: is not a valid host name'),
    (dict(memory='1m'), 'memory: must be at least 6m'),
    (dict(cap_add=['NET ADMIN']), 'cap_add: '),
    (dict(ulimits={'nofile': {'soft': 10, 'hard': 5}}), 'ulimits: has a soft limit 10 above the hard limit 5'),
    (dict(ulimits={'nofile': 'many'}), 'ulimits: '),
    (dict(devices=['dev/null']), 'devices: '),
    (dict(extra_hosts={'db': 'not-an-ip'}), 'extra_hosts: '),
    (dict(dns=['dns.example']), 'dns: '),
    (dict(pid='shared'), 'pid: '),
    (dict(ipc='everyone'), 'ipc: '),
    (dict(expose=['http']), 'expose: '),
    (dict(tmpfs=['run']), 'tmpfs: '),
    (dict(shm_size='big'), 'shm_size: '),
    (dict(sysctls={'bad key': '1'}), 'sysctls: '),
    (dict(tty='perhaps'), 'tty: '),
])
def test_bad_values_are_refused_naming_the_option(kwargs, needle):
    with pytest.raises(de.SpecError) as caught:
        make_spec(**kwargs)
    assert str(caught.value).startswith(needle)


# --- decisions --------------------------------------------------------------------------------------


def test_decide_create_and_absent():
    spec = make_spec()
    assert de.decide(spec, 'started', None, IMAGE)['actions'] == ['create', 'start']
    assert de.decide(spec, 'present', None, IMAGE)['actions'] == ['create']
    assert de.decide(spec, 'stopped', None, IMAGE)['actions'] == ['create']
    assert de.decide(spec, 'absent', None, None)['action'] == 'none'
    assert de.decide(spec, 'absent', container_for(spec), None)['actions'] == ['remove']


def test_decide_states_of_a_matching_container():
    spec = make_spec()
    running = container_for(spec)
    stopped = container_for(spec, running=False)
    assert de.decide(spec, 'started', running, IMAGE)['action'] == 'none'
    assert de.decide(spec, 'present', running, IMAGE)['action'] == 'none'
    assert de.decide(spec, 'present', stopped, IMAGE)['action'] == 'none'
    assert de.decide(spec, 'started', stopped, IMAGE)['actions'] == ['start']
    assert de.decide(spec, 'stopped', running, IMAGE)['actions'] == ['stop']
    assert de.decide(spec, 'stopped', stopped, IMAGE)['action'] == 'none'
    assert de.decide(spec, 'restarted', running, IMAGE)['actions'] == ['restart']


def test_decide_update_or_replace():
    old = make_spec(memory='64m')
    container = container_for(old)
    plan = de.decide(make_spec(memory='128m', restart_policy='always'), 'started', container, IMAGE)
    assert plan['actions'] == ['update']
    plan = de.decide(make_spec(memory='128m'), 'started', container_for(old, running=False), IMAGE)
    assert plan['actions'] == ['update', 'start']
    plan = de.decide(make_spec(memory='128m', env={'X': '1'}), 'started', container, IMAGE)
    assert plan['actions'] == ['replace']
    assert plan['start_new']
    plan = de.decide(make_spec(env={'X': '1'}), 'present', container_for(old, running=False), IMAGE)
    assert plan['actions'] == ['replace'] and not plan['start_new']
    plan = de.decide(make_spec(env={'X': '1'}), 'restarted', container, IMAGE)
    assert plan['actions'] == ['replace']


def test_decide_without_image_handles_only_the_state():
    spec = make_spec(image=None)
    container = container_for(make_spec(env={'X': '1'}))
    assert de.decide(spec, 'stopped', container, None)['actions'] == ['stop']
    with pytest.raises(de.SpecError, match='^image: '):
        de.decide(spec, 'stopped', None, None)


def test_create_config():
    spec = make_spec(networks=[{'name': 'front', 'aliases': ['www'], 'ipv4_address': '10.1.0.5'}, {'name': 'back'}],
                     ports=['127.0.0.1:8080:80'], memory='64m', cpus=1.5, entrypoint=['/bin/sh', '-c'],
                     healthcheck={'test': 'true', 'interval': '2s'})
    config, later = de.create_config(spec)
    assert config['HostConfig']['NetworkMode'] == 'front'
    assert config['NetworkingConfig']['EndpointsConfig']['front'] == {'Aliases': ['www'], 'IPAMConfig': {'IPv4Address': '10.1.0.5'}}
    assert [n['name'] for n in later] == ['back']
    assert config['HostConfig']['PortBindings'] == {'80/tcp': [{'HostIp': '127.0.0.1', 'HostPort': '8080'}]}
    assert config['HostConfig']['Memory'] == 64 * 1024 ** 2
    assert 'NanoCpus' not in config['HostConfig']
    assert (config['HostConfig']['CpuPeriod'], config['HostConfig']['CpuQuota']) == (100000, 150000)
    assert config['Entrypoint'] == ['/bin/sh', '-c'] and config['Cmd'] == []
    assert config['Healthcheck'] == {'Test': ['CMD-SHELL', 'true'], 'Interval': 2 * 10 ** 9}
    assert 'io.hna.cloudos.spec-hash' not in config['Labels']


def test_split_image_ref():
    assert de.split_image_ref('nginx') == ('nginx', 'latest')
    assert de.split_image_ref('registry:5000/a/b:1.2') == ('registry:5000/a/b', '1.2')
    assert de.split_image_ref('registry:5000/a/b') == ('registry:5000/a/b', 'latest')
    assert de.split_image_ref('a/b@sha256:00') == ('a/b', 'sha256:00')


# --- the engine against a fake API: safe replacement ------------------------------------------------


class FakeClient(object):
    check_mode = False
    docker_host = 'unix:///var/run/docker.sock'


class FakeAPI(object):
    """Records calls; the new container becomes ``health`` (or exits when ``health`` is ``'exit'``)."""

    def __init__(self, old, health='healthy'):
        self.calls = []
        self.old = old
        self.health = health
        self.created = {}
        self.remove_errors = 0  # removals of a new container that fail before one succeeds

    def inspect_container(self, cid):
        self.calls.append(('inspect', cid))
        if cid == self.old['Id'] or cid == self.old['Name'].lstrip('/'):
            return self.old
        if cid in self.created:
            container = copy.deepcopy(self.old)
            container['Id'] = cid
            if self.health == 'exit':
                container['State'] = {'Status': 'exited', 'Running': False, 'ExitCode': 3}
            else:
                container['State']['Health'] = {'Status': self.health, 'Log': [{'ExitCode': 1, 'Output': 'boom\n'}]}
            return container
        raise docker.errors.NotFound('no such container')

    def create_container_from_config(self, config, name=None):
        self.calls.append(('create', name))
        cid = 'new%d' % len(self.created) + '0' * 60
        self.created[cid] = config
        return {'Id': cid}

    def start(self, cid):
        self.calls.append(('start', cid[:3]))

    def stop(self, cid, timeout=None):
        self.calls.append(('stop', cid[:3]))

    def kill(self, cid):
        self.calls.append(('kill', cid[:3]))

    def rename(self, cid, name):
        self.calls.append(('rename', cid[:3], name))

    def remove_container(self, cid, v=False, force=False):
        self.calls.append(('remove', cid[:3]))
        if cid in self.created and self.remove_errors:
            self.remove_errors -= 1
            raise docker.errors.APIError('500 Server Error', explanation='removal of container %s is already in progress' % cid)

    def logs(self, cid, **kwargs):
        return b'fatal: no config\n'

    def connect_container_to_network(self, *args, **kwargs):
        self.calls.append(('connect', args[1]))

    def containers(self, all=False, filters=None):
        self.calls.append(('list', bool(all)))
        return []

    def update_container(self, cid, **kwargs):
        self.calls.append(('update', cid, kwargs))
        return {'Warnings': None}


def steps(api):
    return [call for call in api.calls if call[0] not in ('inspect', 'list')]


def test_replace_starts_the_new_container_before_stopping_the_old(monkeypatch):
    old_spec = make_spec(env={'A': '1'})
    api = FakeAPI(container_for(old_spec, health='healthy'))
    engine = de.ContainerEngine(FakeClient(), api=api)
    plan = engine.plan(make_spec(), 'started', image=IMAGE)
    assert plan['actions'] == ['replace']
    facts = engine.apply(plan, wait='running', timeout=5, quota=False)
    assert facts['id'].startswith('new0')
    names = steps(api)
    assert names[0] == ('create', names[0][1]) and names[0][1].startswith('web-new-')
    assert names[1:] == [('start', 'new'), ('stop', 'c0f'), ('rename', 'c0f', 'web-old-' + CONTAINER_ID[:12]),
                         ('rename', 'new', 'web'), ('remove', 'c0f')]


def test_failed_replacement_keeps_the_old_container_and_says_why(monkeypatch):
    monkeypatch.setattr(de, 'POLL_INTERVAL', 0)
    api = FakeAPI(container_for(make_spec(env={'A': '1'}), health='healthy'), health='unhealthy')
    engine = de.ContainerEngine(FakeClient(), api=api)
    plan = engine.plan(make_spec(), 'started', image=IMAGE)
    with pytest.raises(de.ContainerEngineError) as caught:
        engine.apply(plan, timeout=5, quota=False)
    message = caught.value.msg
    assert 'unhealthy' in message and 'boom' in message and 'keeps running' in message
    assert ('stop', 'c0f') not in steps(api)
    assert ('remove', 'new') in steps(api)
    assert not any(call[0] == 'rename' for call in steps(api))


def test_failed_replacement_with_fixed_host_ports_restarts_the_old_one(monkeypatch):
    monkeypatch.setattr(de, 'POLL_INTERVAL', 0)
    old_spec = make_spec(ports=['127.0.0.1:8080:8080'], env={'A': '1'})
    api = FakeAPI(container_for(old_spec), health='exit')
    engine = de.ContainerEngine(FakeClient(), api=api)
    plan = engine.plan(make_spec(ports=['127.0.0.1:8080:8080']), 'started', image=IMAGE)
    with pytest.raises(de.ContainerEngineError) as caught:
        engine.apply(plan, timeout=5, quota=False)
    assert 'exit code 3' in caught.value.msg and 'fatal: no config' in caught.value.msg
    calls = steps(api)
    assert calls.index(('stop', 'c0f')) < [c[0] for c in calls].index('create')
    assert calls[-1] == ('start', 'c0f')


def _stop_first_failure(monkeypatch, remove_errors):
    """A replacement that stops the old container first (a fixed host port) and whose new one exits."""
    monkeypatch.setattr(de, 'POLL_INTERVAL', 0)
    monkeypatch.setattr(de, 'FORGET_RETRY_DELAY', 0)
    old_spec = make_spec(ports=['127.0.0.1:8080:8080'], env={'A': '1'})
    api = FakeAPI(container_for(old_spec), health='exit')
    api.remove_errors = remove_errors
    engine = de.ContainerEngine(FakeClient(), api=api)
    plan = engine.plan(make_spec(ports=['127.0.0.1:8080:8080']), 'started', image=IMAGE)
    with pytest.raises(de.ContainerEngineError) as caught:
        engine.apply(plan, timeout=5, quota=False)
    return api, caught.value.msg


def test_a_failed_removal_of_the_new_container_is_tried_again_before_the_old_one_starts(monkeypatch):
    api, message = _stop_first_failure(monkeypatch, remove_errors=1)
    calls = steps(api)
    assert [call for call in calls if call[0] == 'remove'] == [('remove', 'new'), ('remove', 'new')]
    assert calls[-1] == ('start', 'c0f') and calls.index(('remove', 'new')) < calls.index(('start', 'c0f'))
    assert 'has been started again' in message


def test_the_old_container_stays_stopped_while_the_new_one_cannot_be_removed(monkeypatch):
    api, message = _stop_first_failure(monkeypatch, remove_errors=10)
    calls = steps(api)
    assert ('start', 'c0f') not in calls
    assert [call for call in calls if call[0] == 'remove'] == [('remove', 'new')] * 3
    assert 'could not be removed, so the old one was left stopped' in message and 'docker rm -f web-new-' in message
    assert '\n' not in message


def test_check_mode_changes_nothing():
    api = FakeAPI(container_for(make_spec(env={'A': '1'})))
    client = FakeClient()
    client.check_mode = True
    engine = de.ContainerEngine(client, api=api)
    plan = engine.plan(make_spec(), 'started', image=IMAGE)
    facts = engine.apply(plan, quota=False)
    assert facts['id'] == CONTAINER_ID
    assert steps(api) == []


def test_no_op_costs_two_inspections_and_one_listing():
    spec = make_spec(env={'A': '1'})
    api = FakeAPI(container_for(spec, health='healthy'))
    calls = []
    api.inspect_image = lambda ref: calls.append(('inspect_image', ref)) or IMAGE
    engine = de.ContainerEngine(FakeClient(), api=api)
    plan = engine.plan(spec, 'started')
    assert plan['actions'] == []
    facts = engine.apply(plan, wait='healthy', timeout=5)
    assert facts['health'] == 'healthy'
    assert api.calls == [('list', True), ('inspect', 'web')]
    assert calls == [('inspect_image', 'hnatest/web:1')]


def test_new_api_gives_each_thread_its_own_connection(monkeypatch, module_exits, module_args, clean_docker_env):
    built = []

    class FakeAPIClient(object):
        def __init__(self, base_url=None, version=None, timeout=None, tls=False, **kwargs):
            self.base_url, self._version, self.timeout = base_url, version, timeout
            built.append(self)

        def version(self, api_version=True):
            return {'Version': '20.10.24', 'ApiVersion': '1.41', 'MinAPIVersion': '1.12'}

    monkeypatch.setattr(dc.docker, 'APIClient', FakeAPIClient)
    with module_args({'timeout': 30}):
        client = dc.DockerClient()
    api = client.new_api()
    assert api is not client.api and len(built) == 2
    assert (api.base_url, api._version, api.timeout) == ('unix:///var/run/docker.sock', '1.41', 30)
    engine = de.ContainerEngine(client, api=api)
    assert engine.api is api and engine.check_mode is False
