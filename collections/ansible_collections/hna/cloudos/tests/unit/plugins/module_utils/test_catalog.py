# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the app catalog's entries: their checks, the parameters' checks and the rendered Compose document
(pure: no engine, no registry). Every entry shipped in the collection's catalog/ is checked and rendered too."""

from __future__ import annotations

import copy
import glob
import os

import pytest
import yaml

from ansible_collections.hna.cloudos.plugins.module_utils import _catalog as catalog
from ansible_collections.hna.cloudos.plugins.module_utils._catalog import CatalogError
from ansible_collections.hna.cloudos.plugins.module_utils._compose import parse_stack

CATALOG = os.path.join(os.path.dirname(__file__), *(['..'] * 4), 'catalog')
DIGEST = 'sha256:' + 'ab' * 32
SECRET = 'S3cret-value-that-must-not-leak'


def entry(**changes):
    base = dict(
        name='cache', version='7.0',
        image=dict(repository='cloudos/redis', tag='7.0', digest=DIGEST),
        params=dict(
            port=dict(type='port', default=6379),
            memory=dict(type='memory', default='256m'),
            appendonly=dict(type='bool', default=True),
            mode=dict(type='str', default='lru', choices=['lru', 'lfu']),
            workers=dict(type='int', default=2, min=1, max=8),
            password=dict(type='str', secret=True, required=True),
        ),
        upgrades_from=['6.2'],
        reach={'dns': '${app}.${namespace}:6379'},
        compose=dict(
            services={'${app}': dict(image='${image}', ports=['127.0.0.1:${port}:6379'],
                                     deploy=dict(resources=dict(limits=dict(memory='${memory}'))),
                                     environment={'APPENDONLY': '${appendonly}', 'MODE': '${mode}', 'WORKERS': '${workers}'},
                                     volumes=['${app}-data:/data'], secrets=['pw'])},
            volumes={'${app}-data': {}},
            secrets=dict(pw=dict(environment='password')),
        ),
    )
    base.update(changes)
    return catalog.check_entry(base)


def test_defaults_and_given_values_are_checked_and_typed():
    e = entry()
    values = catalog.check_params(e, dict(port='6380', password=SECRET, appendonly=False))
    assert values == dict(port=6380, memory='256m', appendonly=False, mode='lru', workers=2, password=SECRET)


@pytest.mark.parametrize('given, message', [
    (dict(port='http', password=SECRET), "parameter 'port': expected an integer, got the string 'http'"),
    (dict(port=70000, password=SECRET), "parameter 'port': 70000 is out of range (1 to 65535)"),
    (dict(workers=9, password=SECRET), "parameter 'workers': 9 is out of range (1 to 8)"),
    (dict(appendonly='yes', password=SECRET), "parameter 'appendonly': expected true or false, got the string 'yes'"),
    (dict(mode='fifo', password=SECRET), "parameter 'mode': 'fifo' is not one of lru, lfu"),
    (dict(memory='lots', password=SECRET), "parameter 'memory': expected a memory size such as 512m or 1g"),
    (dict(colour='red', password=SECRET), "unknown parameter 'colour' (parameters: appendonly, memory, mode, password, port, workers)"),
    (dict(), "parameter 'password' is required (a secret): give it in params"),
])
def test_bad_parameters_are_refused_with_one_line_naming_them(given, message):
    with pytest.raises(CatalogError) as error:
        catalog.check_params(entry(), given)
    assert message in str(error.value)
    assert str(error.value).startswith('catalog entry cache 7.0: ')
    assert '\n' not in str(error.value)


def test_a_secret_of_the_wrong_type_is_refused_without_quoting_it():
    with pytest.raises(CatalogError) as error:
        e = entry(params=dict(password=dict(type='str', secret=True, required=True, pattern='^[a-z]+$'),
                              port=dict(type='port', default=6379), memory=dict(type='memory', default='256m'),
                              appendonly=dict(type='bool', default=True), mode=dict(type='str', default='lru'),
                              workers=dict(type='int', default=2)))
        catalog.check_params(e, dict(password='UPPER-' + SECRET))
    assert SECRET not in str(error.value) and 'does not match' in str(error.value)


def deploy(e, values, namespace, tmp_path, **kw):
    """What the stack module would deploy: the rendered document through parse_stack."""
    out = catalog.render(e, values, namespace, **kw)
    return out, parse_stack(out['document'], namespace, out['variables'], files_dir=str(tmp_path))


def test_render_pins_the_digest_and_keeps_secrets_out_of_the_containers(tmp_path):
    e = entry()
    out, stack = deploy(e, catalog.check_params(e, dict(password=SECRET, port=6390)), 'shop', tmp_path, registry='10.0.0.1:5000')
    assert out['image'] == '10.0.0.1:5000/cloudos/redis@' + DIGEST
    assert list(stack['services']) == ['cache'] and [v['name'] for v in stack['volumes'].values()] == ['shop-cache-data']
    (spec,) = stack['services']['cache']['specs']
    assert spec['image'] == out['image']
    assert dict(e.split('=', 1) for e in spec['env']) == dict(APPENDONLY='true', MODE='lru', WORKERS='2') \
        if isinstance(spec.get('env'), list) else spec['env'] == dict(APPENDONLY='true', MODE='lru', WORKERS='2')
    assert [(f['kind'], f['name'], f['content']) for f in stack['files']] == [('secret', 'pw', SECRET)]
    assert SECRET not in repr(stack['services']) and SECRET not in repr(out['document'])
    assert out['reach'] == dict(dns='cache.shop:6379')


def test_two_apps_of_one_entry_in_a_namespace_do_not_share_names(tmp_path):
    e = entry()
    one = deploy(e, catalog.check_params(e, dict(password=SECRET, port=1)), 'shop', tmp_path, app='sessions')[1]
    two = deploy(e, catalog.check_params(e, dict(password=SECRET, port=2)), 'shop', tmp_path, app='carts')[1]
    assert list(one['services']) == ['sessions'] and list(two['services']) == ['carts']
    assert set(v['name'] for v in one['volumes'].values()).isdisjoint(v['name'] for v in two['volumes'].values())


def test_an_unpinned_entry_is_refused_unless_allowed():
    e = entry(image=dict(repository='cloudos/redis', tag='7.0', digest=''))
    with pytest.raises(CatalogError, match='pins no digest yet'):
        catalog.render(e, dict(password=SECRET), 'shop')
    assert catalog.render(e, dict(password=SECRET), 'shop', require_digest=False)['image'] == 'cloudos/redis:7.0'


@pytest.mark.parametrize('change, message', [
    (dict(colour='red'), "unknown key 'colour'"),
    (dict(version=7.0), 'version must be a string'),
    (dict(name='Redis'), 'name must be lower-case'),
    (dict(image=dict(repository='cloudos/redis', tag='7.0', digest='md5:1')), 'image.digest must be empty or sha256:'),
    (dict(params=dict(port=dict(type='float', default=1))), "type must be one of str, int, bool, port, memory"),
    (dict(params=dict(port=dict(type='port'))), "give it a default or make it required"),
    (dict(params=dict(password=dict(type='str', secret=True, default='x'))), 'a secret parameter has no default'),
    (dict(params=dict(image=dict(type='str', default='x'))), "has the name of a value every entry gets"),
    (dict(compose=dict(services={})), 'at least one service'),
])
def test_malformed_entries_are_refused(change, message):
    with pytest.raises(CatalogError, match=None) as error:
        entry(**change)
    assert message in str(error.value)


def test_placeholders_must_be_parameters_and_secrets_stay_secrets():
    compose = copy.deepcopy(entry()['compose'])
    compose['services']['${app}']['environment']['X'] = '${nowhere}'
    with pytest.raises(CatalogError, match=r'compose.services.\$\{app\}.environment.X uses \$\{nowhere\}'):
        entry(compose=compose)
    compose = copy.deepcopy(entry()['compose'])
    compose['services']['${app}']['environment']['PASSWORD'] = '${password}'
    with pytest.raises(CatalogError, match="puts the secret parameter 'password' into the document"):
        entry(compose=compose)
    compose = copy.deepcopy(entry()['compose'])
    del compose['secrets']
    with pytest.raises(CatalogError, match="secret parameter 'password' is not the source of any compose secret"):
        entry(compose=compose)


def test_upgrades_follow_the_declared_path():
    e = entry()
    catalog.check_upgrade(e, None)
    catalog.check_upgrade(e, '7.0')
    catalog.check_upgrade(e, '6.2')
    with pytest.raises(CatalogError, match="cannot replace version '6.0' in place"):
        catalog.check_upgrade(e, '6.0')


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(CATALOG, '*', '*.yml'))), ids=os.path.basename)
def test_every_shipped_entry_checks_and_renders(path, tmp_path):
    with open(path) as handle:
        e = catalog.check_entry(yaml.safe_load(handle), path)
    assert os.path.basename(os.path.dirname(path)) == e['name'] and os.path.basename(path) == e['version'] + '.yml'
    missing = sorted(name for name, spec in e['params'].items() if spec['required'] and not spec['secret'] and 'example' not in spec)
    assert not missing, 'required parameters without an example: %s' % missing
    given = dict((name, 'Secret-1' if spec['secret'] else spec['example']) for name, spec in e['params'].items() if spec['required'])
    out, stack = deploy(e, catalog.check_params(e, given), 'shop', tmp_path, registry='r:5000', require_digest=False)
    assert stack['services'] and all(spec['image'] == out['image'] for s in stack['services'].values() for spec in s['specs'])
    assert 'Secret-1' not in repr(stack['services'])
