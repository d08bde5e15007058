# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of the ``hna.cloudos.container_info`` module: one container by name, or a list by label and namespace.

The module file holds the documentation and calls :func:`run_container_info`. The values of the
environment in the facts are redacted (see ``_redact``), but for the names in ``env_visible``.
"""

from __future__ import annotations

from ansible_collections.hna.cloudos.plugins.module_utils._docker_engine import (
    LABEL_NAMESPACE,
    ContainerEngine,
    ContainerEngineError,
    container_facts,
)
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import NamespaceError, validate_name
from ansible_collections.hna.cloudos.plugins.module_utils._redact import redact_facts

CONTAINER_INFO_MODULE_KWARGS = dict(
    supports_check_mode=True,
    mutually_exclusive=[('name', 'labels'), ('name', 'namespace')],
)


def container_info_argument_spec():
    """Return the options of the container_info module (a fresh dictionary each call)."""
    return dict(
        name=dict(type='str'),
        labels=dict(type='list', elements='str'),
        namespace=dict(type='str'),
        all=dict(type='bool', default=True),
        env_visible=dict(type='list', elements='str', default=[]),
    )


def label_filters(labels, namespace):
    """Return the engine's ``label`` filter values for the options."""
    result = []
    for label in labels or []:
        label = label.strip()
        if not label or label.startswith('='):
            raise ValueError('labels: %r is not KEY or KEY=VALUE.' % label)
        result.append(label)
    if namespace:
        result.append('%s=%s' % (LABEL_NAMESPACE, namespace))
    return result


def run_container_info(client):
    """Run the container_info module with ``client`` (built from :func:`container_info_argument_spec`); exit the module."""
    params = client.params
    visible = params['env_visible']
    engine = ContainerEngine(client)
    results = dict(changed=False)

    if params['name'] is not None:
        try:
            container = engine.find(params['name'])
        except ContainerEngineError as exc:
            client.fail(exc.msg, **results)
        results.update(exists=container is not None, container=redact_facts(container_facts(container), visible))
        client.close()
        client.module.exit_json(**results)

    if params['namespace'] is not None:
        try:
            validate_name(params['namespace'])
        except NamespaceError as exc:
            client.fail(str(exc), **results)
    try:
        filters = label_filters(params['labels'], params['namespace'])
    except ValueError as exc:
        client.fail(str(exc), **results)
    query = dict(all=params['all'])
    if filters:
        query['filters'] = dict(label=filters)
    with client.api_errors('list the containers', **results):
        entries = client.api.containers(**query) or []
    containers = []
    try:
        for entry in entries:
            container = engine.find(entry['Id'])
            if container is not None:
                containers.append(redact_facts(container_facts(container), visible))
    except ContainerEngineError as exc:
        client.fail(exc.msg, **results)
    results['containers'] = sorted(containers, key=lambda facts: facts['name'])
    client.close()
    client.module.exit_json(**results)
