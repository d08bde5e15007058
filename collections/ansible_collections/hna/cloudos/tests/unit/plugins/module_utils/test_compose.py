# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the Compose file reader of hna.cloudos.stack (pure: no Docker engine, no files but tmp_path)."""

from __future__ import annotations

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _compose as compose
from ansible_collections.hna.cloudos.plugins.module_utils._compose import ComposeError

NS = 'shop'


def stack(services, namespace=NS, variables=None, base_dir=None, reader=None, **top):
    document = dict(services=services)
    document.update(top)
    return compose.parse_stack(document, namespace, variables or {}, base_dir=base_dir, reader=reader)


def spec(service_definition, variables=None, base_dir=None, reader=None, **top):
    """The spec of a single service ``svc``."""
    result = stack(dict(svc=service_definition), variables=variables, base_dir=base_dir, reader=reader, **top)
    specs = result['services']['svc']['specs']
    assert len(specs) == 1
    return specs[0]


def error(services, match, **kwargs):
    with pytest.raises(ComposeError, match=match) as info:
        stack(services, **kwargs)
    return str(info.value)


# --- interpolation -------------------------------------------------------------------------------------


@pytest.mark.parametrize('text, variables, expected', [
    ('plain', {}, 'plain'),
    ('$A', {'A': 'x'}, 'x'),
    ('${A}', {'A': 'x'}, 'x'),
    ('a${A}b$A.c', {'A': 'x'}, 'axbx.c'),
    ('${A:-def}', {}, 'def'),
    ('${A:-def}', {'A': ''}, 'def'),
    ('${A:-def}', {'A': 'set'}, 'set'),
    ('${A-def}', {}, 'def'),
    ('${A-def}', {'A': ''}, ''),
    ('${A:+alt}', {'A': 'v'}, 'alt'),
    ('${A:+alt}', {'A': ''}, ''),
    ('${A+alt}', {'A': ''}, 'alt'),
    ('${A+alt}', {}, ''),
    ('${A:-${B:-inner}}', {}, 'inner'),
    ('${A:-${B}}', {'B': 'b'}, 'b'),
    ('${A:-a b: c}', {}, 'a b: c'),
    ('$$', {}, '$'),
    ('$$A', {'A': 'x'}, '$A'),
    ('$${A}', {'A': 'x'}, '${A}'),
    ('price $$5', {}, 'price $5'),
    ('${A:?must be set}', {'A': 'ok'}, 'ok'),
    ('${A_1}', {'A_1': 'u'}, 'u'),
    ('\u00e9t\u00e9 ${A}', {'A': '\u2603'}, '\u00e9t\u00e9 \u2603'),
])
def test_interpolate_string(text, variables, expected):
    assert compose.interpolate_string(text, variables) == expected


def test_unset_variable_is_empty_with_one_warning():
    warnings = []
    assert compose.interpolate_string('${NOPE}-$NOPE', {}, 'x', warnings) == '-'
    assert len(warnings) == 1
    assert 'NOPE' in warnings[0]


def test_unset_variable_warning_reaches_the_stack():
    result = stack(dict(web=dict(image='busybox', environment=dict(A='${MISSING}'))))
    assert result['services']['web']['specs'][0]['env'] == {'A': ''}
    assert any('MISSING' in warning for warning in result['warnings'])


@pytest.mark.parametrize('text, match', [
    ('${A', 'without a closing'),
    ('$', 'must be followed'),
    ('a $1', 'must be followed'),
    ('${}', 'is not'),
    ('${A:x}', 'is not'),
    ('${1A}', 'is not'),
    ('${A:?}', 'required variable A is not set'),
    ('${A?custom message}', 'required variable A is not set: custom message'),
])
def test_interpolate_string_errors(text, match):
    with pytest.raises(ComposeError, match=match):
        compose.interpolate_string(text, {})


def test_required_variable_empty():
    with pytest.raises(ComposeError, match='is empty'):
        compose.interpolate_string('${A:?}', {'A': ''})
    assert compose.interpolate_string('${A?}', {'A': ''}) == ''


def test_interpolation_names_service_and_key():
    message = error(dict(web=dict(image='busybox', command='echo ${oops')), 'invalid interpolation')
    assert message.startswith("service 'web': key 'command'")


def test_interpolation_leaves_keys_and_non_strings():
    document = {'services': {'${A}': {'image': 'x', 'deploy': {'replicas': 2}}}}
    assert compose.interpolate(document, {'A': 'a'}) == document


def test_interpolation_uses_only_the_given_variables(monkeypatch):
    monkeypatch.setenv('HNA_COMPOSE_TEST_VAR', 'from-environment')
    result = spec(dict(image='busybox', environment=['X=${HNA_COMPOSE_TEST_VAR:-default}']))
    assert result['env'] == {'X': 'default'}


def test_interpolation_converts_types_after_substitution():
    result = stack(dict(web=dict(image='busybox:${TAG}', deploy=dict(replicas='${N}', resources=dict(limits=dict(cpus='${CPU}'))),
                                 init='${INIT}')), variables=dict(TAG='1.36', N='2', CPU='0.25', INIT='true'))
    specs = result['services']['web']['specs']
    assert [s['image'] for s in specs] == ['busybox:1.36'] * 2
    assert specs[0]['cpus'] == 0.25
    assert specs[0]['init'] is True


def test_document_too_deep_and_self_referencing():
    node = []
    node.append(node)
    with pytest.raises(ComposeError, match='nested too deeply'):
        compose.interpolate({'services': {'a': {'x-loop': node}}}, {})


def test_document_too_large():
    with pytest.raises(ComposeError, match='too large'):
        compose.interpolate({'x-big': list(range(compose.MAX_NODES + 1))}, {})


def test_yaml_alias_bomb_is_refused():
    text = 'x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n'
    previous = 'a'
    for index in range(8):
        name = 'b%d' % index
        text += 'x-%s: &%s [%s]\n' % (name, name, ', '.join(['*' + previous] * 10))
        previous = name
    text += 'services: {}\n'
    document = compose.load_definition(content=text)
    with pytest.raises(ComposeError, match='too large'):
        compose.parse_stack(document, NS)


# --- .env files ----------------------------------------------------------------------------------------


def test_parse_env_file():
    text = '\n'.join([
        '# comment',
        '',
        'A=1',
        'export B = two words ',
        'C="quoted # not a comment\\nnext"',
        "D='single $literal'",
        'E=value # comment',
        'F=',
        'G',
        'H=a=b',
    ])
    assert compose.parse_env_file(text) == {
        'A': '1', 'B': 'two words', 'C': 'quoted # not a comment\nnext', 'D': 'single $literal', 'E': 'value', 'F': '',
        'G': None, 'H': 'a=b'}


@pytest.mark.parametrize('line, match', [
    ('1A=x', 'not a valid variable name'),
    ('A="open', 'no closing quote'),
    ("A='open", 'no closing quote'),
    ('A="x" trailing', 'unexpected text'),
])
def test_parse_env_file_errors(line, match):
    with pytest.raises(ComposeError, match=match):
        compose.parse_env_file(line, 'test.env')


def test_read_env_files_later_wins(tmp_path):
    (tmp_path / 'a.env').write_text('A=1\nB=1\n')
    (tmp_path / 'b.env').write_text('B=2\nC\n')
    assert compose.read_env_files(['a.env', str(tmp_path / 'b.env')], str(tmp_path)) == {'A': '1', 'B': '2', 'C': ''}


def test_read_env_files_missing(tmp_path):
    with pytest.raises(ComposeError, match='Cannot read'):
        compose.read_env_files(['nope.env'], str(tmp_path))
    with pytest.raises(ComposeError, match='relative path'):
        compose.read_env_files(['nope.env'], None)


# --- loading -------------------------------------------------------------------------------------------


def test_load_definition_from_file(tmp_path):
    path = tmp_path / 'docker.yml'
    path.write_text('services:\n  web:\n    image: busybox\n')
    assert compose.load_definition(path=str(path)) == {'services': {'web': {'image': 'busybox'}}}


@pytest.mark.parametrize('content, match', [
    ('services: [', 'not valid YAML at line'),
    ('- a\n- b\n', 'must be a mapping'),
    ('', 'must be a mapping'),
    (None, 'must be a mapping'),
    (42, 'must be a mapping'),
])
def test_load_definition_errors(content, match):
    with pytest.raises(ComposeError, match=match):
        compose.load_definition(content=content)


def test_load_definition_copies_the_mapping():
    content = {'services': {'web': {'image': 'x'}}}
    loaded = compose.load_definition(content=content)
    loaded['services']['web']['image'] = 'y'
    assert content['services']['web']['image'] == 'x'


def test_load_definition_missing_file(tmp_path):
    with pytest.raises(ComposeError, match='Cannot read'):
        compose.load_definition(path=str(tmp_path / 'missing.yml'))


# --- top level -----------------------------------------------------------------------------------------


def test_top_level_version_name_and_extensions():
    result = compose.parse_stack({'version': '3.9', 'name': NS, 'x-anything': {'a': 1}, 'services': {}}, NS)
    assert result['services'] == {} and result['levels'] == []


@pytest.mark.parametrize('document, match', [
    ({'services': {}, 'secrets': {'s': {'external': True}}}, "key 'secrets.s.external' is not supported"),
    ({'services': {}, 'swarm': {}}, "top-level key 'swarm' is not supported"),
    ({}, 'no services key'),
    ({'services': None}, 'must be a mapping'),
    ({'services': ['web']}, 'must be a mapping'),
    ({'services': {}, 1: 2}, 'top-level key'),
])
def test_top_level_errors(document, match):
    with pytest.raises(ComposeError, match=match):
        compose.parse_stack(document, NS)


@pytest.mark.parametrize('namespace', ['', 'Shop', 'a_b', '-a', 'a' * 64, None, 3])
def test_bad_namespace(namespace):
    with pytest.raises(ComposeError, match='not a valid namespace name'):
        compose.parse_stack({'services': {}}, namespace)


@pytest.mark.parametrize('name', ['Web', 'we b', '-web', 'w.eb', '', 'a' * 64, 'caf\u00e9', 5])
def test_bad_service_names(name):
    error({name: {'image': 'busybox'}}, 'the name must be')


# --- the spec ------------------------------------------------------------------------------------------


def test_minimal_service_spec():
    result = spec(dict(image='busybox'))
    assert result == dict(
        name='shop-svc', image='busybox', command=None, entrypoint=None, env={},
        labels={'io.hna.cloudos.managed': 'true', 'io.hna.cloudos.namespace': NS, 'io.hna.cloudos.service': 'svc',
                'io.hna.cloudos.stack': NS},
        ports=[], mounts=[], networks=[dict(name=NS, aliases=['svc', 'svc.shop'], ipv4_address=None)],
        restart_policy=dict(name='no', max_retries=0), healthcheck=None, init=None, user=None, working_dir=None,
        hostname=None, memory=None, cpus=None, log_driver=None, log_options={}, stop_timeout=None, stop_signal=None,
        expose=[], tmpfs={}, shm_size=None, cap_add=[], cap_drop=[], ulimits=[], devices=[], extra_hosts=[], dns=[],
        dns_search=[], read_only=None, sysctls={}, security_opt=[], pid=None, ipc=None, tty=None, interactive=None)


def test_missing_image():
    error(dict(web=dict(command='true')), "service 'web' has no image")
    error(dict(web=dict(build='.')), "service 'web': key 'build' is not supported by hna.cloudos.stack")
    error(dict(web=None), 'has no definition')
    error(dict(web='busybox'), 'must be a mapping')


@pytest.mark.parametrize('image', ['UPPER/case', 'a b', 'busybox:', 'busybox::1', ':tag', 'busybox@sha256:xyz', 'x' * 600])
def test_bad_images(image):
    error(dict(web=dict(image=image)), 'not a valid image reference')


@pytest.mark.parametrize('image', ['busybox', 'busybox:1.36', 'registry.example.com:5000/team/app:v1-2_3',
                                   'localhost/app', 'app@sha256:' + 'a' * 64, 'sha256:' + 'b' * 64, 'hnatest/web:1'])
def test_good_images(image):
    assert spec(dict(image=image))['image'] == image


@pytest.mark.parametrize('key', ['privileged', 'links', 'network_mode', 'build'])
def test_unsupported_service_keys(key):
    message = error(dict(web=dict(image='busybox', **{key: True})), 'not supported')
    assert message == "service 'web': key '%s' is not supported by hna.cloudos.stack" % key


def test_several_unsupported_keys_are_named():
    message = error(dict(web=dict(image='busybox', privileged=True, build='.', cap_add=['NET_ADMIN'])), 'not supported')
    assert message == "service 'web': keys 'build', 'privileged' are not supported by hna.cloudos.stack"


@pytest.mark.parametrize('definition, key', [
    (dict(deploy=dict(placement={})), 'deploy.placement'),
    (dict(deploy=dict(resources=dict(reservations={}))), 'deploy.resources.reservations'),
    (dict(deploy=dict(resources=dict(limits=dict(pids=10)))), 'deploy.resources.limits.pids'),
    (dict(healthcheck=dict(test='true', start_timeout='1s')), 'healthcheck.start_timeout'),
    (dict(ports=[dict(target=80, app_protocol='http')]), 'ports[0].app_protocol'),
    (dict(volumes=[dict(type='bind', source='/x', target='/y', bind=dict(propagation='shared'))]), 'volumes[0].bind'),
    (dict(depends_on=dict(db=dict(restart=True))), 'depends_on.db.restart'),
    (dict(logging=dict(driver='json-file', format='x')), 'logging.format'),
])
def test_unsupported_nested_keys(definition, key):
    definition['image'] = 'busybox'
    services = dict(web=definition, db=dict(image='busybox'))
    message = error(services, 'not supported')
    assert message == "service 'web': key '%s' is not supported by hna.cloudos.stack" % key


def test_extension_keys_are_ignored_everywhere():
    result = spec({'image': 'busybox', 'x-note': 'hi', 'deploy': {'x-a': 1, 'resources': {'x-b': 2}},
                   'healthcheck': {'test': 'true', 'x-c': 3}})
    assert result['image'] == 'busybox'


def test_command_and_entrypoint_both_syntaxes():
    result = spec(dict(image='busybox', command='sh -c "echo hi there"', entrypoint=['/bin/tini', '--']))
    assert result['command'] == ['sh', '-c', 'echo hi there']
    assert result['entrypoint'] == ['/bin/tini', '--']
    result = spec(dict(image='busybox', command=['sleep', 10], entrypoint='/entry.sh --flag'))
    assert result['command'] == ['sleep', '10']
    assert result['entrypoint'] == ['/entry.sh', '--flag']


@pytest.mark.parametrize('value, match', [
    ('echo "open', 'cannot be split'),
    ({'a': 1}, 'must be a string or a list'),
    (['ok', None], 'must be a string'),
    (['ok', ['nested']], 'must be a string'),
])
def test_command_errors(value, match):
    error(dict(web=dict(image='busybox', command=value)), match)


def test_environment_list_and_map():
    variables = dict(FROM_VARS='v')
    assert spec(dict(image='busybox', environment=['A=1', 'B=', 'C=x=y', 'FROM_VARS', 'UNSET']), variables)['env'] == {
        'A': '1', 'B': '', 'C': 'x=y', 'FROM_VARS': 'v'}
    assert spec(dict(image='busybox', environment=dict(A=1, B=True, C=None, D='', FROM_VARS=None, E=1.5)), variables)['env'] == {
        'A': '1', 'B': 'true', 'D': '', 'FROM_VARS': 'v', 'E': '1.5'}


@pytest.mark.parametrize('value, match', [
    ('A=1', 'must be a list'),
    ([['A', 1]], 'must be a string'),
    (['=x'], 'empty name'),
    ({'A': [1]}, 'must be a string'),
    ({'A': {'b': 1}}, 'must be a string'),
])
def test_environment_errors(value, match):
    error(dict(web=dict(image='busybox', environment=value)), match)


def test_env_file_and_precedence(tmp_path):
    (tmp_path / 'base.env').write_text('A=from-file\nB=from-file\nC\n')
    (tmp_path / 'extra.env').write_text('B=extra\n')
    result = spec(dict(image='busybox', env_file=['base.env', dict(path='extra.env'), dict(path='none.env', required=False)],
                       environment=dict(A='from-environment')), variables=dict(C='from-vars'), base_dir=str(tmp_path))
    assert result['env'] == {'A': 'from-environment', 'B': 'extra', 'C': 'from-vars'}
    assert spec(dict(image='busybox', env_file='base.env'), base_dir=str(tmp_path))['env'] == {'A': 'from-file', 'B': 'from-file'}


def test_env_file_errors(tmp_path):
    error(dict(web=dict(image='busybox', env_file='missing.env')), 'relative path')
    error(dict(web=dict(image='busybox', env_file='missing.env')), 'Cannot read', base_dir=str(tmp_path))
    error(dict(web=dict(image='busybox', env_file=[dict(required=True)])), 'has no path')
    error(dict(web=dict(image='busybox', env_file=5)), 'must be a list')


def test_env_file_uses_the_reader():
    read = []

    def reader(path):
        read.append(path)
        return 'A=1\n'

    assert spec(dict(image='busybox', env_file='/srv/app.env'), reader=reader)['env'] == {'A': '1'}
    assert read == ['/srv/app.env']


@pytest.mark.parametrize('item, expected', [
    (80, [dict(container_port=80, protocol='tcp', host_ip='', host_port=None)]),
    ('80', [dict(container_port=80, protocol='tcp', host_ip='', host_port=None)]),
    ('8080:80', [dict(container_port=80, protocol='tcp', host_ip='', host_port=8080)]),
    ('127.0.0.1:8080:80', [dict(container_port=80, protocol='tcp', host_ip='127.0.0.1', host_port=8080)]),
    ('127.0.0.1::80', [dict(container_port=80, protocol='tcp', host_ip='127.0.0.1', host_port=None)]),
    ('0.0.0.0:53:53/udp', [dict(container_port=53, protocol='udp', host_ip='', host_port=53)]),
    ('[::1]:8443:443', [dict(container_port=443, protocol='tcp', host_ip='::1', host_port=8443)]),
    ('9000-9001:8000-8001', [dict(container_port=8000, protocol='tcp', host_ip='', host_port=9000),
                             dict(container_port=8001, protocol='tcp', host_ip='', host_port=9001)]),
    ('7000-7001', [dict(container_port=7000, protocol='tcp', host_ip='', host_port=None),
                   dict(container_port=7001, protocol='tcp', host_ip='', host_port=None)]),
    (dict(target=80), [dict(container_port=80, protocol='tcp', host_ip='', host_port=None)]),
    (dict(target=80, published='8080', host_ip='127.0.0.1', protocol='udp', mode='host'),
     [dict(container_port=80, protocol='udp', host_ip='127.0.0.1', host_port=8080)]),
    (dict(target='80', published=8080), [dict(container_port=80, protocol='tcp', host_ip='', host_port=8080)]),
])
def test_ports_both_syntaxes(item, expected):
    assert spec(dict(image='busybox', ports=[item]))['ports'] == expected


@pytest.mark.parametrize('item, match', [
    ('0', 'outside 1-65535'),
    ('70000', 'outside 1-65535'),
    ('http', 'not a number'),
    ('1:2:3:4', 'is not'),
    ('80/icmp', 'protocol'),
    ('bad-ip:80:80', 'not an IP address'),
    ('9000-9002:80-81', 'same length'),
    ('90-80', 'ends before'),
    ('[::1:80:80', 'without "]"'),
    (True, 'must be a string'),
    (dict(published=80), 'no target'),
    (dict(target=80, mode='swarm'), 'must be host or ingress'),
    (dict(target=80, published='80-81'), 'is a range'),
])
def test_port_errors(item, match):
    error(dict(web=dict(image='busybox', ports=[item])), match)


def test_ports_sorted_like_the_engine():
    ports = spec(dict(image='busybox', ports=['9090:90', '8080:80']))['ports']
    assert [port['container_port'] for port in ports] == [80, 90]


def test_host_port_collisions():
    error(dict(a=dict(image='x', ports=['8080:80']), b=dict(image='x', ports=['127.0.0.1:8080:81'])),
          "services 'a' and 'b' both publish the host port 8080/tcp")
    error(dict(a=dict(image='x', ports=['8080:80', '8080:81'])), 'twice')
    result = stack(dict(a=dict(image='x', ports=['127.0.0.1:8080:80']), b=dict(image='x', ports=['127.0.0.2:8080:80', '8080:80/udp'])))
    assert len(result['services']) == 2


def test_volumes_both_syntaxes(tmp_path):
    result = spec(dict(image='busybox', volumes=[
        'data:/var/lib/data',
        'data2:/ro:ro',
        '/srv/conf:/etc/conf:ro',
        './rel:/rel:rw',
        '~/home:/home-dir',
        '/anonymous',
        dict(type='volume', source='data3', target='/long'),
        dict(type='bind', source='../up', target='/up', read_only=True),
        dict(type='tmpfs', target='/tmp'),
        dict(type='volume', target='/anon-long'),
    ]), base_dir=str(tmp_path / 'stack'), volumes={'data': None, 'data2': {}, 'data3': {'labels': {'a': 'b'}}})
    mounts = dict((mount['target'], mount) for mount in result['mounts'])
    assert mounts['/var/lib/data'] == dict(type='volume', source='shop-data', target='/var/lib/data', read_only=False)
    assert mounts['/ro'] == dict(type='volume', source='shop-data2', target='/ro', read_only=True)
    assert mounts['/etc/conf'] == dict(type='bind', source='/srv/conf', target='/etc/conf', read_only=True)
    assert mounts['/rel'] == dict(type='bind', source=str(tmp_path / 'stack' / 'rel'), target='/rel', read_only=False)
    assert mounts['/home-dir']['type'] == 'bind' and mounts['/home-dir']['source'].endswith('/home')
    assert mounts['/anonymous'] == dict(type='volume', source=None, target='/anonymous', read_only=False)
    assert mounts['/long'] == dict(type='volume', source='shop-data3', target='/long', read_only=False)
    assert mounts['/up'] == dict(type='bind', source=str(tmp_path / 'up'), target='/up', read_only=True)
    assert mounts['/tmp'] == dict(type='tmpfs', source=None, target='/tmp', read_only=False)
    assert mounts['/anon-long'] == dict(type='volume', source=None, target='/anon-long', read_only=False)
    assert [mount['target'] for mount in result['mounts']] == sorted(mounts)


@pytest.mark.parametrize('item, match', [
    ('undeclared:/x', "volume 'undeclared', which is not declared"),
    ('./rel:/x', 'relative path'),
    ('data:relative', 'must be absolute'),
    ('data:/x:z', "mode 'z'"),
    ('data:/x:ro,delegated', "mode 'delegated'"),
    ('/srv/x:/x:nocopy', 'volumes only'),
    (dict(type='bind', source='/srv/x', target='/x', volume=dict(nocopy=True)), 'volume mounts only'),
    (dict(type='volume', source='data', target='/x', volume=dict(subpath='a')), "volume.subpath' is not supported"),
    (dict(type='volume', source='data', target='/x', volume=dict(nocopy='perhaps')), 'true or false'),
    ('a:b:c:d', 'is not'),
    (':/x', 'empty source'),
    (dict(type='npipe', target='/x'), 'must be volume, bind or tmpfs'),
    (dict(type='bind', target='/x'), 'without a source'),
    (dict(type='tmpfs', source='x', target='/x'), 'takes no source'),
    (dict(type='volume', source='data'), 'no target'),
    (dict(type='volume', source='data', target='/x', read_only='maybe'), 'true or false'),
])
def test_volume_errors(item, match):
    error(dict(web=dict(image='busybox', volumes=[item])), match, volumes={'data': {}})


def test_volume_nocopy():
    """Long-syntax ``volume.nocopy`` and the short ``nocopy`` mode become ``no_copy`` on the mount (set only when true)."""
    result = stack(dict(web=dict(image='busybox', volumes=[
        'data:/short:ro,nocopy',
        dict(type='volume', source='data', target='/long', volume=dict(nocopy=True)),
        dict(type='volume', target='/anon', volume=dict(nocopy=True)),
        dict(type='volume', source='data', target='/copy', volume=dict(nocopy=False)),
    ])), volumes={'data': {}})
    mounts = dict((mount['target'], mount) for mount in result['services']['web']['specs'][0]['mounts'])
    assert mounts['/short'] == dict(type='volume', source='shop-data', target='/short', read_only=True, no_copy=True)
    assert mounts['/long'] == dict(type='volume', source='shop-data', target='/long', read_only=False, no_copy=True)
    assert mounts['/anon'] == dict(type='volume', source=None, target='/anon', read_only=False, no_copy=True)
    assert mounts['/copy'] == dict(type='volume', source='shop-data', target='/copy', read_only=False)


def test_volume_mounted_twice():
    error(dict(web=dict(image='busybox', volumes=['data:/x', '/y:/x'])), "mounts two things on '/x'", volumes={'data': {}})


def test_top_level_volumes():
    result = stack(dict(web=dict(image='x', volumes=['data:/d', 'ext:/e', 'ext2:/f'])), volumes={
        'data': {'driver': 'local', 'driver_opts': {'type': 'tmpfs', 'device': 'tmpfs'}, 'labels': ['team=a']},
        'ext': {'external': True},
        'ext2': {'external': True, 'name': 'shared-volume'},
        'x-ignored': {},
    })
    volumes = result['volumes']
    assert volumes['data'] == dict(key='data', name='shop-data', external=False, driver='local',
                                   driver_opts={'type': 'tmpfs', 'device': 'tmpfs'},
                                   labels={'team': 'a', 'io.hna.cloudos.managed': 'true', 'io.hna.cloudos.namespace': NS,
                                           'io.hna.cloudos.stack': NS})
    assert volumes['ext']['name'] == 'ext' and volumes['ext']['external'] is True and volumes['ext']['labels'] == {}
    assert volumes['ext2']['name'] == 'shared-volume'
    assert set(volumes) == {'data', 'ext', 'ext2'}
    mounts = dict((m['target'], m['source']) for m in result['services']['web']['specs'][0]['mounts'])
    assert mounts == {'/d': 'shop-data', '/e': 'ext', '/f': 'shared-volume'}


@pytest.mark.parametrize('volumes, match', [
    ({'data': {'name': 'x'}}, 'only supported with external'),
    ({'data': {'external': True, 'driver': 'local'}}, 'takes only name'),
    ({'data': {'labels': {'io.hna.cloudos.stack': 'x'}}}, 'reserved'),
    ({'data': {'unknown': 1}}, "key 'volumes.data.unknown' is not supported"),
    ({'bad name': {}}, 'the name must'),
    ({'data': []}, 'must be a mapping'),
    ([], 'must be a mapping'),
])
def test_top_level_volume_errors(volumes, match):
    error(dict(web=dict(image='x')), match, volumes=volumes)


def test_networks_list_and_map():
    result = stack(dict(
        web=dict(image='x', networks=['front', 'back']),
        api=dict(image='x', networks=dict(default=dict(aliases=['api-main']), back=dict(aliases=['api-b'], ipv4_address='10.9.0.5'),
                                          front=None)),
        ext=dict(image='x', networks=['outside']),
    ), networks={'front': {}, 'back': {'internal': True, 'ipam': {'config': [{'subnet': '10.9.0.0/24', 'gateway': '10.9.0.1'}]}},
                 'outside': {'external': True, 'name': 'shared'}})
    web = result['services']['web']['specs'][0]['networks']
    # A service that lists its networks joins only those (the namespace network is "default").
    assert web == [dict(name='shop-front', aliases=['web', 'web.shop'], ipv4_address=None),
                   dict(name='shop-back', aliases=['web', 'web.shop'], ipv4_address=None)]
    api = dict((n['name'], n) for n in result['services']['api']['specs'][0]['networks'])
    assert api[NS]['aliases'] == ['api', 'api-main', 'api.shop']
    assert api['shop-back'] == dict(name='shop-back', aliases=['api', 'api-b', 'api.shop'], ipv4_address='10.9.0.5')
    assert [network['name'] for network in result['services']['ext']['specs'][0]['networks']] == ['shared']
    assert result['networks']['back'] == dict(
        key='back', name='shop-back', external=False, driver='bridge', internal=True,
        labels={'io.hna.cloudos.managed': 'true', 'io.hna.cloudos.stack': NS},
        ipam=dict(driver='default', config=[dict(subnet='10.9.0.0/24', gateway='10.9.0.1', ip_range=None)]))
    assert result['networks']['outside']['external'] is True and result['networks']['outside']['labels'] == {}


def test_namespace_network_joined_unless_other_networks_are_listed():
    for networks in (None, [], ['default'], ['front', 'default']):
        definition = dict(image='x')
        if networks is not None:
            definition['networks'] = networks
        spec = stack(dict(web=definition), networks={'front': {}})['services']['web']['specs'][0]
        assert dict(name=NS, aliases=['web', 'web.shop'], ipv4_address=None) in spec['networks']
    spec = stack(dict(web=dict(image='x', networks=['front'])), networks={'front': {}})['services']['web']['specs'][0]
    assert [network['name'] for network in spec['networks']] == ['shop-front']
    assert spec['labels']['io.hna.cloudos.namespace'] == NS


@pytest.mark.parametrize('service_networks, top, match', [
    (['nope'], {}, "network 'nope', which is not declared"),
    ({'front': {'priority': 1}}, {'front': {}}, "key 'networks.front.priority' is not supported"),
    ({'front': {'ipv4_address': '300.1.1.1'}}, {'front': {}}, 'not an IPv4 address'),
    ({'front': {'aliases': ['bad alias']}}, {'front': {}}, 'not a valid DNS name'),
    ('front', {'front': {}}, 'must be a list'),
    (['x'], {'default': {}}, 'the default network is the namespace network'),
    (['x'], {'x': {'driver': 'overlay'}}, 'only the bridge driver'),
    (['x'], {'x': {'name': 'y'}}, 'only supported with external'),
    (['x'], {'x': {'ipam': {'config': [{'subnet': '10.0.0.1/24'}]}}}, 'host bits'),
    (['x'], {'x': {'ipam': {'config': [{'subnet': '10.0.0.0/24', 'gateway': '10.1.0.1'}]}}}, 'is not in'),
    (['x'], {'x': {'ipam': {'config': [{'subnet': '10.0.0.0/24', 'ip_range': '10.1.0.0/28'}]}}}, 'is not inside'),
    (['x'], {'x': {'ipam': {'driver': 'other'}}}, 'default IPAM driver'),
    (['x'], {'x': {'ipam': {'config': [{}]}}}, 'has no subnet'),
    (['x'], {'x': {'attachable': True}}, "key 'networks.x.attachable' is not supported"),
])
def test_network_errors(service_networks, top, match):
    error(dict(web=dict(image='x', networks=service_networks)), match, networks=top)


@pytest.mark.parametrize('value, expected', [
    (['db'], {'db': 'service_started'}),
    ({'db': None}, {'db': 'service_started'}),
    ({'db': {'condition': 'service_healthy'}}, {'db': 'service_healthy'}),
    ({'db': {'condition': 'service_completed_successfully', 'required': True}}, {'db': 'service_completed_successfully'}),
    ({'db': {'condition': 'service_started'}, 'gone': {'required': False}}, {'db': 'service_started'}),
])
def test_depends_on_both_syntaxes(value, expected):
    result = stack(dict(db=dict(image='x'), web=dict(image='x', depends_on=value)))
    assert result['services']['web']['depends_on'] == expected
    assert result['levels'] == [['db'], ['web']]


@pytest.mark.parametrize('value, match', [
    (['nope'], "key 'depends_on' names 'nope', which is not a service"),
    ({'nope': {}}, "names 'nope'"),
    ({'db': {'condition': 'service_ready'}}, 'must be one of'),
    ('db', 'must be a list'),
    ([1], 'must be a string'),
])
def test_depends_on_errors(value, match):
    error(dict(db=dict(image='x'), web=dict(image='x', depends_on=value)), match)


def test_cycles():
    assert 'a -> a' in error(dict(a=dict(image='x', depends_on=['a'])), 'cycle')
    assert 'a -> b -> a' in error(dict(a=dict(image='x', depends_on=['b']), b=dict(image='x', depends_on=['a'])), 'cycle')
    message = error(dict(root=dict(image='x'), a=dict(image='x', depends_on=['root', 'c']), b=dict(image='x', depends_on=['a']),
                         c=dict(image='x', depends_on=['b'])), 'cycle')
    assert message == 'depends_on has a cycle: a -> c -> b -> a'


def test_levels():
    result = stack(dict(
        db=dict(image='x'), cache=dict(image='x'),
        api=dict(image='x', depends_on={'db': {'condition': 'service_healthy'}, 'cache': None}),
        migrate=dict(image='x', depends_on=['db']),
        web=dict(image='x', depends_on={'api': {'condition': 'service_started'}, 'migrate': {'condition': 'service_completed_successfully'}}),
        lonely=dict(image='x'),
    ))
    assert result['levels'] == [['cache', 'db', 'lonely'], ['api', 'migrate'], ['web']]


def test_start_levels_directly():
    assert compose.start_levels({}) == []
    assert compose.start_levels({'a': [], 'b': ['a'], 'c': ['a'], 'd': ['b', 'c']}) == [['a'], ['b', 'c'], ['d']]
    with pytest.raises(ComposeError, match='not a service'):
        compose.start_levels({'a': ['z']})
    with pytest.raises(ComposeError, match='cycle: b -> c -> b'):
        compose.start_levels({'a': [], 'b': ['c', 'a'], 'c': ['b']})


@pytest.mark.parametrize('value, expected', [
    ('true', dict(test=['CMD-SHELL', 'true'], interval=None, timeout=None, retries=None, start_period=None, start_interval=None)),
    (['CMD', 'curl', '-f', 'http://localhost'],
     dict(test=['CMD', 'curl', '-f', 'http://localhost'], interval=None, timeout=None, retries=None, start_period=None, start_interval=None)),
    (['CMD-SHELL', 'exit 0'], dict(test=['CMD-SHELL', 'exit 0'], interval=None, timeout=None, retries=None, start_period=None, start_interval=None)),
    (['NONE'], dict(test=['NONE'], interval=None, timeout=None, retries=None, start_period=None, start_interval=None)),
])
def test_healthcheck_test_syntaxes(value, expected):
    assert spec(dict(image='x', healthcheck=dict(test=value)))['healthcheck'] == expected


def test_healthcheck_durations_and_disable():
    health = spec(dict(image='x', healthcheck=dict(test='true', interval='1m30s', timeout='500ms', retries=3, start_period=10)))['healthcheck']
    assert health == dict(test=['CMD-SHELL', 'true'], interval=90 * 10 ** 9, timeout=5 * 10 ** 8, retries=3, start_period=10 ** 10,
                          start_interval=None)
    assert spec(dict(image='x', healthcheck=dict(disable=True)))['healthcheck']['test'] == ['NONE']
    assert spec(dict(image='x', healthcheck=dict(disable=False, interval='2s')))['healthcheck'] == dict(
        test=None, interval=2 * 10 ** 9, timeout=None, retries=None, start_period=None, start_interval=None)


@pytest.mark.parametrize('value, match', [
    (dict(test=''), 'is empty'),
    (dict(test=[]), 'non-empty list'),
    (dict(test=['RUN', 'x']), 'must start with CMD'),
    (dict(test=['CMD']), 'without a command'),
    (dict(test=['CMD-SHELL', 'a', 'b']), 'one shell command'),
    (dict(test=['NONE', 'x']), 'takes no arguments'),
    (dict(test='true', interval='soon'), 'must be a duration'),
    (dict(test='true', interval='-1s'), 'must be a duration'),
    (dict(test='true', interval=-1), 'must not be negative'),
    (dict(test='true', interval='10us'), 'at least 1ms'),
    (dict(test='true', retries=-1), 'between 0'),
    (dict(test='true', retries='many'), 'must be an integer'),
    (dict(test='true', disable='perhaps'), 'true or false'),
    ('true', 'must be a mapping'),
])
def test_healthcheck_errors(value, match):
    error(dict(web=dict(image='x', healthcheck=value)), match)


@pytest.mark.parametrize('value, expected', [
    ('no', dict(name='no', max_retries=0)),
    (False, dict(name='no', max_retries=0)),
    ('always', dict(name='always', max_retries=0)),
    ('unless-stopped', dict(name='unless-stopped', max_retries=0)),
    ('on-failure', dict(name='on-failure', max_retries=0)),
    ('on-failure:3', dict(name='on-failure', max_retries=3)),
])
def test_restart(value, expected):
    assert spec(dict(image='x', restart=value))['restart_policy'] == expected


@pytest.mark.parametrize('value', ['sometimes', True, 'on-failure:x', 3])
def test_restart_errors(value):
    error(dict(web=dict(image='x', restart=value)), "key 'restart'")


def test_labels_both_syntaxes():
    assert spec(dict(image='x', labels=['a=1', 'b=', 'c']))['labels']['a'] == '1'
    labels = spec(dict(image='x', labels=dict(a=1, b=None, c=True)))['labels']
    assert (labels['a'], labels['b'], labels['c']) == ('1', '', 'true')
    assert labels['io.hna.cloudos.service'] == 'svc'


def test_reserved_labels():
    error(dict(web=dict(image='x', labels={'io.hna.cloudos.stack': 'other'})), 'reserved')


def test_deploy_replicas_and_limits():
    result = stack(dict(web=dict(image='x', deploy=dict(replicas=3, resources=dict(limits=dict(cpus='0.5', memory='128m'))))))
    specs = result['services']['web']['specs']
    # The first replica keeps the plain name, so that scaling from one to several (and back) keeps it.
    assert [s['name'] for s in specs] == ['shop-web', 'shop-web-2', 'shop-web-3']
    assert [s['labels'].get('io.hna.cloudos.replica') for s in specs] == [None, '2', '3']  # the first one never changes
    assert all(s['networks'][0]['aliases'] == ['web', 'web.shop'] for s in specs)
    assert all(s['cpus'] == 0.5 and s['memory'] == 128 * 1024 ** 2 for s in specs)
    assert result['services']['web']['replicas'] == 3
    assert stack(dict(web=dict(image='x', deploy=dict(replicas=0))))['services']['web']['specs'] == []
    single = stack(dict(web=dict(image='x', deploy=dict(replicas=1))))['services']['web']['specs']
    assert [s['name'] for s in single] == ['shop-web']
    assert 'io.hna.cloudos.replica' not in single[0]['labels']
    assert stack(dict(web=dict(image='x')))['services']['web']['replicas'] is None


@pytest.mark.parametrize('value, expected', [
    (1048576 * 64, 64 * 1024 ** 2), ('64m', 64 * 1024 ** 2), ('1g', 1024 ** 3), ('1.5GB', int(1.5 * 1024 ** 3)),
    ('65536k', 64 * 1024 ** 2), ('7340032', 7340032), ('7340032b', 7340032),
])
def test_memory(value, expected):
    assert spec(dict(image='x', deploy=dict(resources=dict(limits=dict(memory=value)))))['memory'] == expected


@pytest.mark.parametrize('deploy, match', [
    (dict(replicas=-1), 'between 0'),
    (dict(replicas=10 ** 6), 'between 0'),
    (dict(replicas='two'), 'must be an integer'),
    (dict(replicas=1.5), 'must be an integer'),
    (dict(resources=dict(limits=dict(memory='1m'))), 'at least 6m'),
    (dict(resources=dict(limits=dict(memory='lots'))), 'must be a size'),
    (dict(resources=dict(limits=dict(memory='9' * 40))), 'too large'),
    (dict(resources=dict(limits=dict(memory=True))), 'must be a size'),
    (dict(resources=dict(limits=dict(cpus=0))), 'at least 0.01'),
    (dict(resources=dict(limits=dict(cpus='many'))), 'number of CPUs'),
    (dict(resources=dict(limits=dict(cpus=float('nan')))), 'at least 0.01'),
    (dict(resources=dict(limits=dict(cpus=float('inf')))), 'at least 0.01'),
    ('3', 'must be a mapping'),
])
def test_deploy_errors(deploy, match):
    error(dict(web=dict(image='x', deploy=deploy)), match)


def test_replicas_with_fixed_host_port():
    error(dict(web=dict(image='x', ports=['8080:80'], deploy=dict(replicas=2))), 'fixed host ports')
    assert len(stack(dict(web=dict(image='x', ports=['80'], deploy=dict(replicas=2))))['services']['web']['specs']) == 2


def test_container_name_collision():
    error(dict(web=dict(image='x', deploy=dict(replicas=2)), **{'web-2': dict(image='x')}), 'container name')


def test_simple_keys():
    result = spec(dict(image='x', user=1000, working_dir='/app', hostname='web-1.example', init=True, stop_grace_period='1m1s',
                       stop_signal='SIGINT', logging=dict(driver='json-file', options={'max-size': '10m', 'max-file': 3})))
    assert (result['user'], result['working_dir'], result['hostname'], result['init']) == ('1000', '/app', 'web-1.example', True)
    assert result['stop_timeout'] == 61 and result['stop_signal'] == 'SIGINT'
    assert result['log_driver'] == 'json-file' and result['log_options'] == {'max-size': '10m', 'max-file': '3'}
    assert spec(dict(image='x', stop_grace_period='500ms'))['stop_timeout'] == 1
    assert spec(dict(image='x', user='app:app', init='false'))['user'] == 'app:app'


@pytest.mark.parametrize('definition, match', [
    (dict(working_dir='app'), 'absolute path'),
    (dict(hostname='bad_host!'), 'not a valid host name'),
    (dict(init='sometimes'), 'true or false'),
    (dict(stop_grace_period='forever'), 'must be a duration'),
    (dict(stop_grace_period='1000000000h'), 'too long'),
    (dict(stop_signal='sig term'), 'not a signal'),
    (dict(user=['root']), 'must be a string'),
    (dict(logging='json-file'), 'must be a mapping'),
])
def test_simple_key_errors(definition, match):
    definition['image'] = 'x'
    error(dict(web=definition), match)


def test_durations():
    assert compose.parse_duration('1h2m3s4ms5us6ns') == 3723004005006
    assert compose.parse_duration('1.5s') == 1500000000
    assert compose.parse_duration('10') == 10 ** 10
    assert compose.parse_duration(0.5) == 5 * 10 ** 8
    for bad in ('', '1x', 's', '1s2', None, [1], True):
        with pytest.raises(ComposeError):
            compose.parse_duration(bad)


def test_full_example_from_yaml(tmp_path):
    (tmp_path / 'app.env').write_text('LOG=debug\n')
    (tmp_path / 'docker.yml').write_text('''
version: "3.9"
name: shop
x-common: &common
  restart: unless-stopped
  init: true
services:
  db:
    <<: *common
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:?set the database password}
    volumes: [data:/var/lib/postgresql/data]
    healthcheck:
      test: [CMD-SHELL, pg_isready]
      interval: 5s
  web:
    <<: *common
    image: registry.example.com/shop/web:${TAG:-latest}
    env_file: app.env
    ports: ["127.0.0.1:8080:8080"]
    depends_on:
      db: {condition: service_healthy}
    networks: [default, back]
volumes:
  data:
networks:
  back:
''')
    document = compose.load_definition(path=str(tmp_path / 'docker.yml'))
    result = compose.parse_stack(document, NS, {'DB_PASSWORD': 'secret'}, base_dir=str(tmp_path))
    web = result['services']['web']['specs'][0]
    assert web['image'] == 'registry.example.com/shop/web:latest'
    assert web['env'] == {'LOG': 'debug'}
    assert web['restart_policy']['name'] == 'unless-stopped'
    assert result['services']['db']['specs'][0]['env'] == {'POSTGRES_PASSWORD': 'secret'}
    assert result['levels'] == [['db'], ['web']]
    with pytest.raises(ComposeError, match='set the database password'):
        compose.parse_stack(document, NS, {}, base_dir=str(tmp_path))


def test_variables_must_be_strings():
    with pytest.raises(ComposeError, match='must be strings'):
        compose.parse_stack({'services': {}}, NS, {'A': 1})


def test_parse_stack_does_not_change_its_input():
    document = {'services': {'web': {'image': '${IMG}', 'environment': ['A=1']}}}
    compose.parse_stack(document, NS, {'IMG': 'busybox'})
    assert document == {'services': {'web': {'image': '${IMG}', 'environment': ['A=1']}}}


def test_container_name_names_the_container():
    result = compose.parse_stack({'services': {'db': {'image': 'mariadb:10.11', 'container_name': 'shop_db'}}}, 'shop')
    spec = result['services']['db']['specs'][0]
    assert spec['name'] == 'shop_db'
    assert spec['labels']['io.hna.cloudos.service'] == 'db'


@pytest.mark.parametrize('definition, needle', [
    ({'image': 'x', 'container_name': '-bad'}, 'is not a valid container name'),
    ({'image': 'x', 'container_name': 'db', 'deploy': {'replicas': 2}}, 'deploy.replicas is 2'),
])
def test_container_name_refused(definition, needle):
    with pytest.raises(ComposeError, match=needle):
        compose.parse_stack({'services': {'db': definition}}, 'shop')
