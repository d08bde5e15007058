# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the table of container options, its shared parsers and its documentation."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.hna.cloudos.plugins.doc_fragments.container_options import ModuleDocFragment
from ansible_collections.hna.cloudos.plugins.module_utils import _compose as compose
from ansible_collections.hna.cloudos.plugins.module_utils import _container_options as co
from ansible_collections.hna.cloudos.plugins.module_utils._compose import ComposeError


# --- the documentation is the table's -------------------------------------------------------------


def _documented():
    return yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']


def _check_same(argspec, documented, where):
    assert set(argspec) == set(documented), where
    for name, entry in argspec.items():
        doc = documented[name]
        assert doc.get('type', 'str') == entry.get('type', 'str'), '%s.%s type' % (where, name)
        assert doc.get('elements') == entry.get('elements'), '%s.%s elements' % (where, name)
        assert doc.get('default') == entry.get('default'), '%s.%s default' % (where, name)
        assert sorted(doc.get('choices') or []) == sorted(entry.get('choices') or []), '%s.%s choices' % (where, name)
        assert sorted(doc.get('aliases') or []) == sorted(entry.get('aliases') or []), '%s.%s aliases' % (where, name)
        assert bool(doc.get('required')) == bool(entry.get('required')), '%s.%s required' % (where, name)
        if entry.get('options') or doc.get('suboptions'):
            _check_same(entry.get('options') or {}, doc.get('suboptions') or {}, '%s.%s' % (where, name))


def test_the_fragment_documents_exactly_the_options_of_the_table():
    argspec = co.container_argument_spec()
    assert set(argspec) == set(option.name for option in co.OPTIONS) | set(co.INPUT_ARGSPEC)
    _check_same(argspec, _documented(), 'container_options')


def test_the_fragment_names_each_compose_key():
    documented = _documented()
    for option in co.OPTIONS:
        if option.compose:
            text = ' '.join(documented[option.name]['description'])
            assert 'Compose key C(%s)' % option.compose in text, option.name


def test_the_argument_spec_is_a_fresh_dict_each_call():
    first = co.container_argument_spec()
    first['ports']['aliases'].append('changed')
    first['healthcheck']['options']['test']['type'] = 'str'
    second = co.container_argument_spec()
    assert second['ports']['aliases'] == ['published_ports']
    assert second['healthcheck']['options']['test']['type'] == 'raw'


def test_spec_fields_are_the_table_in_order():
    assert co.SPEC_FIELDS == ('name', 'image') + tuple(option.name for option in co.OPTIONS)
    spec = co.container_spec('web', 'busybox:1')
    assert tuple(spec) == co.SPEC_FIELDS


# --- one parser each, shared by the modules and Compose ------------------------------------------------


@pytest.mark.parametrize('value, expected', [
    ('512MiB', 512 * 1024 ** 2), ('512m', 512 * 1024 ** 2), ('1.5gb', int(1.5 * 1024 ** 3)), ('64MB', 64 * 1024 ** 2),
    (7340032, 7340032), ('1g', 1024 ** 3),
])
def test_one_size_parser_for_container_and_compose(value, expected):
    assert co.parse_size(value) == expected
    assert compose.parse_memory(value, 'web', 'deploy.resources.limits.memory') == expected
    result = compose.parse_stack({'services': {'web': {'image': 'x', 'deploy': {'resources': {'limits': {'memory': value}}}}}}, 'shop')
    assert result['services']['web']['specs'][0]['memory'] == expected


def test_compose_keeps_its_minimum_memory_and_names_service_and_key():
    with pytest.raises(ComposeError, match="^service 'web': key 'deploy.resources.limits.memory' must be at least 6m"):
        compose.parse_memory('1m', 'web', 'deploy.resources.limits.memory')
    with pytest.raises(co.SpecError, match='^memory: must be at least 6m'):
        co.container_spec('web', 'busybox:1', memory='1m')


@pytest.mark.parametrize('value, expected', [('1m30s', 90 * 10 ** 9), ('.5s', 5 * 10 ** 8), ('10', 10 ** 10), (0.5, 5 * 10 ** 8)])
def test_one_duration_parser(value, expected):
    assert co.parse_duration(value) == expected
    assert compose.parse_duration(value) == expected


def test_one_port_parser_with_ranges():
    expected = [dict(container_port=80, protocol='tcp', host_ip='', host_port=8000),
                dict(container_port=81, protocol='tcp', host_ip='', host_port=8001)]
    assert co.parse_port('8000-8001:80-81') == expected
    assert compose.parse_port('8000-8001:80-81') == expected
    assert co.container_spec('web', 'busybox:1', ports=['8000-8001:80-81'])['ports'] == expected


def test_one_image_reference_validator():
    assert co.valid_image_reference is compose.valid_image_reference
    with pytest.raises(co.SpecError, match='^image: '):
        co.container_spec('web', 'Busybox')
    with pytest.raises(ComposeError, match="^service 'web': key 'image' is not a valid image reference"):
        compose.parse_stack({'services': {'web': {'image': 'Busybox'}}}, 'shop')


# --- Compose keys go through the table ------------------------------------------------------------------


def test_compose_keys_of_the_new_options():
    service = dict(image='x', cap_add=['NET_ADMIN'], cap_drop=['ALL'], ulimits={'nofile': {'soft': 1024, 'hard': 2048}},
                   devices=['/dev/fuse'], extra_hosts=['db.example:10.1.2.3'], dns='10.0.0.53', dns_search=['example.com'],
                   read_only='true', tmpfs='/run', sysctls=['net.core.somaxconn=1024'], shm_size='128m',
                   security_opt=['no-new-privileges:true'], pid='host', ipc='shareable', stop_grace_period='1m30s',
                   expose=['8080', '53/udp'], tty=True, stdin_open=True, init=True)
    spec = compose.parse_stack({'services': {'web': service}}, 'shop')['services']['web']['specs'][0]
    assert spec['cap_add'] == ['CAP_NET_ADMIN'] and spec['cap_drop'] == ['ALL']
    assert spec['ulimits'] == [dict(name='nofile', soft=1024, hard=2048)]
    assert spec['devices'] == [dict(path_on_host='/dev/fuse', path_in_container='/dev/fuse', permissions='rwm')]
    assert spec['extra_hosts'] == ['db.example:10.1.2.3'] and spec['dns'] == ['10.0.0.53'] and spec['dns_search'] == ['example.com']
    assert spec['read_only'] is True and spec['tmpfs'] == {'/run': ''} and spec['sysctls'] == {'net.core.somaxconn': '1024'}
    assert spec['shm_size'] == 128 * 1024 ** 2 and spec['security_opt'] == ['no-new-privileges:true']
    assert (spec['pid'], spec['ipc'], spec['stop_timeout'], spec['tty'], spec['interactive']) == ('host', 'shareable', 90, True, True)
    assert spec['expose'] == ['53/udp', '8080/tcp']


def test_compose_and_module_give_the_same_spec():
    module = co.container_spec('shop-web', 'x', cap_add=['NET_ADMIN'], ulimits={'nofile': 1024}, tty=True, interactive=True,
                               stop_timeout=90, namespace='shop', service='web', extra_labels={co.LABEL_STACK: 'shop'})
    stack = compose.parse_stack({'services': {'web': dict(image='x', cap_add=['NET_ADMIN'], ulimits={'nofile': 1024}, tty=True,
                                                          stdin_open=True, stop_grace_period='90s')}}, 'shop')
    assert stack['services']['web']['specs'][0] == module


@pytest.mark.parametrize('service, message', [
    (dict(cap_add='NET ADMIN'), "service 'web': key 'cap_add' has 'NET ADMIN', which is not a capability"),
    (dict(ulimits={'nofile': {'soft': 2, 'hard': 1}}), "service 'web': key 'ulimits' has a soft limit 2 above the hard limit 1"),
    (dict(shm_size='lots'), "service 'web': key 'shm_size' must be a size"),
    (dict(stdin_open='perhaps'), "service 'web': key 'stdin_open' must be true or false"),
    (dict(stop_grace_period='soon'), "service 'web': key 'stop_grace_period' must be a duration"),
    (dict(expose=['http']), "service 'web': key 'expose' has the port 'http', which is not a number"),
    (dict(expose=True), "service 'web': key 'expose' must be a list of ports such as 80, 8000-8010 or 53/udp, not 'True'"),
    (dict(expose={'80': None}), "service 'web': key 'expose' must be a list of ports such as 80, 8000-8010 or 53/udp, not '{"),
    (dict(hostname='bad_host'), "service 'web': key 'hostname' is not a valid host name"),
])
def test_compose_errors_name_the_service_and_the_key(service, message):
    service['image'] = 'x'
    with pytest.raises(ComposeError) as caught:
        compose.parse_stack({'services': {'web': service}}, 'shop')
    assert str(caught.value).startswith(message)


def test_replica_one_keeps_the_plain_name():
    specs = compose.parse_stack({'services': {'web': {'image': 'x', 'deploy': {'replicas': 3}}}}, 'shop')['services']['web']['specs']
    assert [spec['name'] for spec in specs] == ['shop-web', 'shop-web-2', 'shop-web-3']
    assert compose.container_name('shop', 'web', 1) == compose.container_name('shop', 'web') == 'shop-web'


# --- the module's side ---------------------------------------------------------------------------------


def _params(**kwargs):
    params = dict((name, None) for name in co.container_argument_spec())
    params.update(name='web', image='busybox:1', restart_policy='no')
    params.update(kwargs)
    return params


def test_env_file_is_read_and_declared_env_wins(tmp_path):
    first = tmp_path / 'a.env'
    first.write_text('A=from-file\nB="two words"\n# comment\nexport C=3\nBARE\n')
    second = tmp_path / 'b.env'
    second.write_text('C=second\n')
    spec = co.module_spec(_params(env_file=[str(first), str(second)], env={'A': 'declared'}), compose.read_env_file)
    assert spec['env'] == {'A': 'declared', 'B': 'two words', 'C': 'second'}


def test_env_file_errors_name_the_option(tmp_path):
    with pytest.raises(co.SpecError, match='^env_file: Cannot read'):
        co.module_spec(_params(env_file=[str(tmp_path / 'missing.env')]), compose.read_env_file)
    bad = tmp_path / 'bad.env'
    bad.write_text('1BAD=x\n')
    with pytest.raises(co.SpecError, match='^env_file: .*not a valid variable name'):
        co.module_spec(_params(env_file=[str(bad)]), compose.read_env_file)


def test_without_image_no_configuration_option_may_be_given():
    with pytest.raises(co.SpecError, match='^image is needed with cap_add, tty'):
        co.module_spec(_params(image=None, cap_add=['NET_ADMIN'], tty=True), compose.read_env_file)
    assert co.module_spec(_params(image=None), compose.read_env_file)['image'] is None


def test_mount_no_copy_round_trip():
    """``no_copy`` is written as VolumeOptions.NoCopy and read back from the inspected container."""
    mount = co.normalise_mount(dict(type='volume', source='data', target='/d', no_copy=True))
    assert mount == dict(type='volume', source='data', target='/d', read_only=False, no_copy=True)
    plain = co.normalise_mount(dict(type='volume', source='data', target='/e', no_copy=False))
    assert 'no_copy' not in plain
    config, host_config = {}, {}
    co._write_mounts([mount, plain], config, host_config, None)
    assert host_config['Mounts'][0]['VolumeOptions'] == {'NoCopy': True}
    assert 'VolumeOptions' not in host_config['Mounts'][1]
    assert co.actual_mounts(host_config) == [mount, plain]


def test_mount_no_copy_only_for_volumes():
    with pytest.raises(co.SpecError, match='no_copy applies to volumes only'):
        co.normalise_mount(dict(type='bind', source='/srv', target='/d', no_copy=True))
