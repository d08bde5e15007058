# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Content outside the collection must not import it.
"""One app of the app store in a namespace: the module ``hna.cloudos.app``.

The entry of the catalog (read on the controller by the action plugin) is checked with its parameters, its pinned
digest is compared with what the registry serves under the entry's tag, and the Compose document it renders is
deployed by the stack machinery as an owner of its own (``_namespace.owner_labels``): the app lists, compares and
prunes only its own containers, networks and volumes.
"""

from __future__ import annotations

import os

from ansible_collections.hna.cloudos.plugins.module_utils._catalog import (
    CatalogError,
    check_entry,
    check_params,
    check_upgrade,
    entry_label,
    render,
    secret_params,
)
from ansible_collections.hna.cloudos.plugins.module_utils._compose import SERVICE_NAME_RE
from ansible_collections.hna.cloudos.plugins.module_utils._compose_document import DEFAULT_FILES_ROOT
from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import error_text
from ansible_collections.hna.cloudos.plugins.module_utils._docker_image import default_config_path
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import LABEL_APP_ENTRY, owner_filters, owner_labels
from ansible_collections.hna.cloudos.plugins.module_utils._redact import keep_output_unmasked
from ansible_collections.hna.cloudos.plugins.module_utils._registry import (
    RegistryClient,
    RegistryError,
    load_credentials,
    parse_registry_url,
)
from ansible_collections.hna.cloudos.plugins.module_utils._stack import StackDeployer, run_deployer

#: Where the Docker engine keeps the CA certificate of a registry (``registry_login`` and ``docker_host`` put it there).
CERTS_DIR = '/etc/docker/certs.d'


def app_argument_spec():
    """The options of the app module (a fresh dictionary each call)."""
    return dict(
        name=dict(type='str', required=True),
        app=dict(type='str'),
        version=dict(type='str'),
        entry=dict(type='dict'),
        catalog_path=dict(type='path'),
        namespace=dict(type='str', required=True),
        params=dict(type='dict', default={}, no_log=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        registry=dict(type='str'),
        registry_ca_path=dict(type='path'),
        config_path=dict(type='path'),
        verify_digest=dict(type='bool', default=True),
        allow_unpinned=dict(type='bool', default=False),
        remove_data=dict(type='bool', default=False),
        pull=dict(type='str', default='missing', choices=['missing', 'always', 'never']),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=180),
        parallel=dict(type='int', default=4),
        lock_timeout=dict(type='int', default=300),
        files_dir=dict(type='path', default=DEFAULT_FILES_ROOT),
    )


APP_MODULE_KWARGS = dict(
    supports_check_mode=True,
    required_if=[('state', 'present', ('entry', ))],
)


def masked_params(entry, values):
    """The parameters as the result shows them: the secret ones as ``(hidden)``."""
    secret = secret_params(entry)
    return dict((name, '(hidden)' if name in secret else value) for name, value in sorted(values.items()))


def installed_entries(api, namespace, app):
    """The catalog entries (``<app>:<version>``) the app's containers were made from, sorted."""
    containers = api.containers(all=True, filters={'label': owner_filters(owner_labels(namespace, app))}) or []
    return sorted(set((container.get('Labels') or {}).get(LABEL_APP_ENTRY) or '' for container in containers) - set(['']))


def registry_digest(registry, repository, tag, ca_path=None, config_path=None, timeout=30):
    """The digest the registry serves for ``repository:tag``, asked with the credentials ``registry_login`` stored."""
    if ca_path is None:
        candidate = os.path.join(CERTS_DIR, registry, 'ca.crt')
        ca_path = candidate if os.path.isfile(candidate) else None
    username, password = load_credentials({}, parse_registry_url(registry), config_path or default_config_path())
    client = RegistryClient(registry, username=username, password=password, ca_path=ca_path, timeout=timeout)
    return client.manifest(repository, tag, body=False)[0]


def check_digest(entry, registry, digest_of):
    """Refuse an entry whose pinned digest is not what the registry serves for its tag (one line, what to do)."""
    image = entry['image']
    if not image.get('digest') or not registry:
        return None
    try:
        served = digest_of(registry, image['repository'], image['tag'])
    except RegistryError as exc:
        raise CatalogError('%s: cannot check the pinned digest against registry %s: %s' % (entry_label(entry), registry, exc))
    if served != image['digest']:
        raise CatalogError('%s: tag %s of %s is %s in registry %s, the catalog pins %s: the image was replaced; publish '
                           'the catalog again or find out who pushed it. Nothing was changed.' % (
                               entry_label(entry), image['tag'], image['repository'], served, registry, image['digest']))
    return served


def run_app(client, digest_of=None):
    """Run the app module with ``client`` (a ``DockerClient`` built from :func:`app_argument_spec`); exit the module."""
    params = client.params
    module = client.module
    name = params['name']
    keep_output_unmasked(module, ['params'])
    if not SERVICE_NAME_RE.match(name or ''):
        client.fail('name %s is not a valid app name: 1 to 63 lower-case letters, digits, "_" or "-", starting with a '
                    'letter or digit. Nothing was changed.' % name)
    extra = dict(app=name, namespace=params['namespace'])
    entry, values, rendered, app_labels = params.get('entry'), {}, None, {}
    if params['state'] == 'present':
        try:
            entry = check_entry(entry, 'the catalog entry %s %s' % (params.get('app'), params.get('version')))
            values = check_params(entry, params['params'])
            try:
                installed = installed_entries(client.api, params['namespace'], name)
            except Exception as exc:  # pylint: disable=broad-except
                raise CatalogError('The Docker engine at %s could not list the containers of app %s: %s' % (
                    client.docker_host, name, error_text(exc)))
            for item in installed:
                installed_app, _sep, installed_version = item.partition(':')
                if installed_app != entry['name']:
                    raise CatalogError('app %s of namespace %s runs %s, not %s: remove it first (state: absent) or give '
                                       'this one another name. Nothing was changed.'
                                       % (name, params['namespace'], item, entry['name']))
                check_upgrade(entry, installed_version)
            if params['verify_digest']:
                check_digest(entry, params.get('registry'), digest_of or (lambda registry, repository, tag: registry_digest(
                    registry, repository, tag, params.get('registry_ca_path'), params.get('config_path'))))
            rendered = render(entry, values, params['namespace'], app=name, registry=params.get('registry'),
                              require_digest=not params['allow_unpinned'])
        except CatalogError as exc:
            client.fail('%s' % exc if 'Nothing was changed' in str(exc) else '%s. Nothing was changed.' % str(exc).rstrip('.'),
                        changed=False, **extra)
        app_labels = {LABEL_APP_ENTRY: '%s:%s' % (entry['name'], entry['version'])}
        extra.update(entry=entry['name'], version=entry['version'], image=rendered['image'], reach=rendered['reach'],
                     params=masked_params(entry, values))
    # The stack machinery reads its own options: the rendered document and its variables take their place.
    secret = secret_params(entry)
    params.update(definition=None, definition_content=rendered['document'] if rendered else None,
                  env=dict((key, str(value)) for key, value in (rendered['variables'] if rendered else {}).items()),
                  env_visible=sorted(key for key in (rendered['variables'] if rendered else {}) if key not in secret),
                  env_files=[], profiles=[], prune=True, remove_volumes=params['remove_data'])
    deployer = StackDeployer(client, app=name, app_labels=app_labels)
    deployer.results.update(extra)
    shown = dict((key, params.get(key)) for key in app_argument_spec() if key not in ('entry', 'params'))
    shown['params'] = masked_params(entry, params.get('params') or {})
    deployer.results['invocation'] = dict(module_args=shown)
    run_deployer(client, deployer, 'hna.cloudos.app', 'the app %s of namespace %s' % (name, params['namespace']))
