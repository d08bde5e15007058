# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of the ``hna.cloudos.namespace_info`` module: each namespace with its quotas, usage and services.

The module file holds the documentation and calls :func:`run_namespace_info`; everything it does is here, on
top of the namespace helpers (``_namespace``). The ``describe_*`` functions and :func:`published_ports` and
:func:`utc_time` are pure: they work on the inspect dicts of the engine.
"""

from __future__ import annotations

import re

from ansible_collections.hna.cloudos.plugins.module_utils import _namespace as ns

NAMESPACE_INFO_MODULE_KWARGS = dict(
    supports_check_mode=True,
)

_TIME_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)')


def utc_time(value):
    """Return a Docker timestamp as ``YYYY-MM-DDTHH:MM:SSZ``, or ``None`` for an empty or zero time."""
    match = _TIME_RE.match(value or '')
    if not match or match.group(1).startswith('0001-'):
        return None
    return match.group(1) + 'Z'


def published_ports(container):
    """Return the published ports of a container as ``host_ip:host_port->port/proto``, sorted."""
    network_settings = (container.get('NetworkSettings') or {}).get('Ports') or {}
    bindings = network_settings if (container.get('State') or {}).get('Running') else \
        ((container.get('HostConfig') or {}).get('PortBindings') or {})
    result = set()
    for port, hosts in bindings.items():
        if '/' not in port:
            port += '/tcp'
        for host in hosts or []:
            host_ip = (host or {}).get('HostIp') or '0.0.0.0'
            if ':' in host_ip:
                host_ip = '[%s]' % host_ip
            result.add('%s:%s->%s' % (host_ip, (host or {}).get('HostPort') or '', port))
    return sorted(result)


def _replica(labels):
    try:
        return int(labels.get(ns.LABEL_REPLICA))
    except (TypeError, ValueError):
        return None


def describe_instance(container, namespace):
    """Describe one container of a namespace service."""
    state = container.get('State') or {}
    labels = (container.get('Config') or {}).get('Labels') or {}
    rolled, dummy = ns.container_state(container)
    endpoint = ((container.get('NetworkSettings') or {}).get('Networks') or {}).get(namespace) or {}
    return dict(
        name=ns.container_name(container),
        id=container.get('Id') or '',
        replica=_replica(labels),
        state=rolled,
        docker_state=state.get('Status') or '',
        health=((state.get('Health') or {}).get('Status')) or None,
        exit_code=int(state.get('ExitCode') or 0),
        ipv4_address=endpoint.get('IPAddress') or None,
        image=(container.get('Config') or {}).get('Image') or '',
        image_id=container.get('Image') or '',
        created=utc_time(container.get('Created')),
        started=utc_time(state.get('StartedAt')),
    )


def describe_services(namespace, containers, digests):
    """Group the containers (inspect dicts) of ``namespace`` into services and describe each."""
    groups = {}
    for container in containers:
        groups.setdefault(ns.service_name(container), []).append(container)
    services = []
    for name in sorted(groups):
        members = groups[name]
        instances = sorted((describe_instance(container, namespace) for container in members),
                           key=lambda item: (item['replica'] is None, item['replica'] or 0, item['name']))
        state, exit_code = ns.service_state([ns.container_state(container) for container in
                                             sorted(members, key=ns.container_name)])
        ports = set()
        for container in members:
            ports.update(published_ports(container))
        first = instances[0]
        created = [item['created'] for item in instances if item['created']]
        started = [item['started'] for item in instances if item['started']]
        services.append(dict(
            name=name,
            containers=[item['name'] for item in instances],
            replicas=len(instances),
            state=state,
            exit_code=exit_code,
            dns_names=list(reversed(ns.service_aliases(namespace, name))),
            ports=sorted(ports),
            image=first['image'],
            image_id=first['image_id'],
            image_digest=digests.get(first['image_id']),
            created=min(created) if created else None,
            started=max(started) if started else None,
            instances=instances,
        ))
    return services


def describe_namespace(model, containers, volumes, digests):
    """Return the full description of a namespace."""
    usage = ns.usage_from(containers, len(volumes))
    services = describe_services(model['name'], containers, digests)
    result = dict(model)
    result.update(
        usage=usage,
        available=ns.available_from(model['quotas'], usage),
        over_quota=ns.over_quota(model['quotas'], usage),
        status=ns.namespace_status([service['state'] for service in services]),
        volumes=[volume.get('Name') for volume in volumes],
        services=services,
    )
    return result


def _namespace_of(item, labels_key):
    return (item.get(labels_key) or {}).get(ns.LABEL_NAMESPACE)


def namespace_info_argument_spec():
    """Return the options of the namespace_info module (a fresh dictionary each call)."""
    return dict(
        name=dict(type='str'),
    )


def run_namespace_info(client):
    """Run the namespace_info module with ``client`` (a ``DockerClient`` built from
    :func:`namespace_info_argument_spec`); exit the module."""
    results = dict(changed=False, namespaces=[])
    name = client.params['name']
    if name is not None:
        try:
            ns.validate_name(name)
        except ns.NamespaceError as exc:
            client.fail(str(exc), **results)

    with client.api_errors('list the namespace networks', **results):
        if name is None:
            models = ns.list_namespaces(client.api)
        else:
            model = ns.get_namespace(client.api, name)
            models = [model] if model else []
    if models:
        with client.api_errors('list the containers and volumes of the namespaces', **results):
            containers = ns.namespace_containers(client.api, name)
            volumes = ns.namespace_volumes(client.api, name)
        digests = {}
        with client.api_errors('inspect the images of the namespace containers', **results):
            for image_id in sorted(set(container.get('Image') for container in containers if container.get('Image'))):
                image = ns.unless_missing(client.api.inspect_image, image_id)
                if image is None:
                    continue
                repo_digests = [digest for digest in image.get('RepoDigests') or [] if not digest.startswith('<none>')]
                digests[image_id] = repo_digests[0] if repo_digests else None
        for model in models:
            results['namespaces'].append(describe_namespace(
                model,
                [container for container in containers if _namespace_of(container.get('Config') or {}, 'Labels') == model['name']],
                [volume for volume in volumes if _namespace_of(volume, 'Labels') == model['name']],
                digests,
            ))

    client.close()
    client.module.exit_json(**results)
