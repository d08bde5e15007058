# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of the ``hna.cloudos.namespace`` module: options, lock, create, update or remove, results and diff.

The module file holds the documentation and calls :func:`run_namespace`; everything it does is here, on top
of the namespace helpers (``_namespace``).
"""

from __future__ import annotations

import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import error_text
from ansible_collections.hna.cloudos.plugins.module_utils._lock import LockError, namespace_lock
from ansible_collections.hna.cloudos.plugins.module_utils import _namespace as ns

#: How long the removal of a namespace waits for the engine to tear down the endpoints of removed containers.
NETWORK_SETTLE_SECONDS = 10

NAMESPACE_MODULE_KWARGS = dict(
    supports_check_mode=True,
)


def namespace_argument_spec():
    """Return the options of the namespace module (a fresh dictionary each call)."""
    return dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        subnet=dict(type='str'),
        subnet_pool=dict(type='str', default=ns.DEFAULT_SUBNET_POOL),
        subnet_size=dict(type='int', default=ns.DEFAULT_SUBNET_SIZE),
        region=dict(type='str'),
        description=dict(type='str'),
        owner=dict(type='str'),
        quotas=dict(type='dict', options=dict(
            containers=dict(type='int'),
            volumes=dict(type='int'),
            cpus=dict(type='float'),
            memory=dict(type='str'),
        )),
        force=dict(type='bool', default=False),
        remove_volumes=dict(type='bool', default=False),
        lock_timeout=dict(type='int', default=300),
    )


def _diff_view(model):
    """What the diff shows of a namespace (memory in a readable size)."""
    if not model:
        return {}
    quotas = model.get('quotas') or {}
    return dict(
        subnet=model.get('subnet'),
        region=model.get('region') or '',
        description=model.get('description') or '',
        owner=model.get('owner') or '',
        quotas=dict(
            containers=quotas.get('containers'),
            volumes=quotas.get('volumes'),
            cpus=quotas.get('cpus'),
            memory=None if quotas.get('memory') is None else ns.format_memory(quotas['memory']),
        ),
    )


def _model_for(name, labels, subnet, gateway, network_id=''):
    return ns.namespace_from_network({
        'Name': name,
        'Id': network_id,
        'Labels': labels,
        'IPAM': {'Config': [{'Subnet': subnet, 'Gateway': gateway}]},
    })


class NamespaceModule(object):
    """What the module does, step by step."""

    def __init__(self, client):
        self.client = client
        self.api = client.api
        self.params = client.params
        self.name = None
        self.quotas = None
        self.metadata_volumes = []
        self.results = dict(changed=False, namespace={}, removed_metadata_volumes=[], removed_containers=[],
                            disconnected_containers=[], removed_volumes=[], kept_volumes=[])

    def fail(self, msg):
        self.client.fail(msg, **self.results)

    def run(self):
        params = self.params
        if not ns.HAS_NETADDR:
            self.client.module.fail_json(msg=missing_required_lib('netaddr'), exception=ns.NETADDR_IMPORT_ERROR, **self.results)
        try:
            self.name = ns.validate_name(params['name'])
            ns.validate_pool(params['subnet_pool'], params['subnet_size'])
            self.quotas = ns.normalize_quotas(params['quotas']) if params['quotas'] is not None else None
        except ns.NamespaceError as exc:
            self.fail(str(exc))

        with self.client.api_errors('inspect the network %s' % self.name, **self.results):
            network = ns.inspect_network(self.api, self.name)
        with self.client.api_errors('list the metadata volumes of namespace %s' % self.name, **self.results):
            self.metadata_volumes = ns.metadata_volumes(self.api, self.name)

        if params['state'] == 'absent':
            self.absent(network)
        elif network is None:
            self.create()
        else:
            self.update(network)
        return self.results

    # -- present -------------------------------------------------------------------------------------

    def _metadata(self, current=None):
        current = current or {}
        return dict((key, self.params[key] if self.params[key] is not None else current.get(key, ''))
                    for key in ns.METADATA_LABELS)

    def create(self):
        params = self.params
        with self.client.api_errors('list the networks', **self.results):
            existing = ns.existing_subnets(self.api)
        try:
            if params['subnet']:
                subnet = ns.validate_subnet(params['subnet'], existing)
            else:
                subnet = ns.allocate_subnet(existing, params['subnet_pool'], params['subnet_size'])
        except ns.NamespaceError as exc:
            self.fail('Namespace %s was not created: %s' % (self.name, exc))
        gateway = ns.gateway_for(subnet)
        quotas = self.quotas or ns.normalize_quotas({})
        labels = ns.namespace_labels(self.name, self._metadata(), quotas, created=ns.utc_now())
        self.results['changed'] = True
        model = _model_for(self.name, labels, subnet, gateway)
        if not self.client.check_mode:
            with self.client.api_errors('create the network %s' % self.name, **self.results):
                created = ns.create_namespace_network(self.api, self.name, subnet, labels, gateway=gateway)
            model['network_id'] = created.get('Id') or ''
        self.finish(None, model)

    def update(self, network):
        params = self.params
        store = None
        if ns.is_namespace_network(network):
            store = ns.newest_metadata_volume(self.metadata_volumes, self.name, network.get('Id'))
        current = ns.namespace_from_network(network, store)
        if current is None:
            self.fail('A Docker network named %s already exists and is not a namespace (it has no %s=%s label): '
                      'choose another name for the namespace, or remove that network first.' % (
                          self.name, ns.LABEL_NAMESPACE, self.name))
        if params['subnet']:
            try:
                wanted = ns.validate_subnet(params['subnet'], ())
            except ns.NamespaceError as exc:
                self.fail('Namespace %s: %s' % (self.name, exc))
            if wanted != current['subnet']:
                self.fail('Namespace %s already exists on subnet %s: its subnet cannot be changed to %s. Leave subnet '
                          'unset (or set it to %s), or remove the namespace and create it again on the new subnet.' % (
                              self.name, current['subnet'], wanted, current['subnet']))

        quotas = self.quotas if self.quotas is not None else current['quotas']
        desired = ns.data_labels(ns.namespace_labels(self.name, self._metadata(current), quotas, created=current['created']))
        rewrite = desired != ns.data_labels((store or network).get('Labels'))
        # A rewrite supersedes every metadata volume; otherwise only those a stopped run left behind go.
        superseded = [volume['Name'] for volume in self.metadata_volumes if rewrite or volume is not store]
        if not rewrite and not superseded:
            self.finish(current, current)
            return

        self.results['changed'] = True
        after = current
        if rewrite:
            generation = ns.next_generation(self.metadata_volumes, self.name)
            volume = dict(Name=ns.metadata_volume_name(self.name, generation),
                          Labels=ns.metadata_volume_labels(self.name, network['Id'], generation, desired))
            if not self.client.check_mode:
                with self.client.api_errors('create the metadata volume %s of namespace %s' % (volume['Name'], self.name),
                                            **self.results):
                    try:
                        volume = ns.create_metadata_volume(self.api, self.name, network['Id'], desired, generation)
                    except ns.NamespaceError as exc:
                        self.fail(str(exc))
            after = ns.namespace_from_network(network, volume)
        self.results['removed_metadata_volumes'] = superseded
        if not self.client.check_mode:
            done = dict(self.results, removed_metadata_volumes=[])
            with self.client.api_errors('remove the old metadata volumes %s of namespace %s, whose new metadata is in '
                                        'place' % (', '.join(superseded), self.name), **done):
                ns.remove_volumes(self.api, superseded)
        self.finish(current, after)

    def finish(self, before, after):
        with self.client.api_errors('list the containers and volumes of namespace %s' % self.name, **self.results):
            usage = ns.namespace_usage(self.api, self.name)
        namespace = dict(after)
        namespace['usage'] = usage
        namespace['available'] = ns.available_from(namespace['quotas'], usage)
        namespace['over_quota'] = ns.over_quota(namespace['quotas'], usage)
        self.results['namespace'] = namespace
        for problem in namespace['over_quota']:
            self.client.module.warn('Namespace %s already uses more than a quota allows (%s): nothing was removed, but '
                                    'nothing more can be added until the use is back under the quota.' % (self.name, problem))
        if self.client.module._diff:
            self.results['diff'] = dict(before=_diff_view(before), after=_diff_view(after))

    # -- absent --------------------------------------------------------------------------------------

    def absent(self, network):
        params = self.params
        current = None
        if network is not None:
            current = ns.namespace_from_network(network, ns.newest_metadata_volume(
                self.metadata_volumes, self.name, network.get('Id')) if ns.is_namespace_network(network) else None)
            if current is None:
                self.client.module.warn('A Docker network named %s exists but is not a namespace (it has no %s=%s label): '
                                        'it was left alone.' % (self.name, ns.LABEL_NAMESPACE, self.name))
                return
        with self.client.api_errors('list the containers of namespace %s' % self.name, **self.results):
            labelled = self.api.containers(all=True, filters={'label': '%s=%s' % (ns.LABEL_NAMESPACE, self.name)}) or []
            attached = ns.attached_containers(self.api, network) if network is not None else []
            volumes = ns.namespace_volumes(self.api, self.name)
        labelled_ids = set(item['Id'] for item in labelled)
        to_remove = sorted(labelled, key=ns.container_name)
        to_disconnect = sorted((item for item in attached if item['Id'] not in labelled_ids), key=ns.container_name)
        if network is None and not params['force']:
            # No namespace: containers still labelled for it are only removed on request.
            to_remove = []
        if (to_remove or to_disconnect) and not params['force']:
            names = [ns.container_name(item) for item in to_remove + to_disconnect]
            self.fail('Namespace %s still has %d container(s): %s. Remove them first, or set force: true to remove the '
                      'namespace with them (containers of other namespaces attached to its network are only '
                      'disconnected; volumes are kept unless remove_volumes: true).' % (
                          self.name, len(names), ', '.join(names)))

        volume_names = [volume['Name'] for volume in volumes]
        volume_names += self._carried_volumes(to_remove, volume_names)
        metadata_names = [volume['Name'] for volume in self.metadata_volumes]
        self.results['removed_metadata_volumes'] = metadata_names
        self.results['removed_containers'] = [ns.container_name(item) for item in to_remove]
        self.results['disconnected_containers'] = [ns.container_name(item) for item in to_disconnect]
        if params['remove_volumes']:
            self.results['removed_volumes'] = volume_names
        else:
            self.results['kept_volumes'] = volume_names
        self.results['changed'] = bool(network is not None or to_remove or metadata_names or self.results['removed_volumes'])
        if not self.results['changed']:
            return
        if self.client.module._diff:
            self.results['diff'] = dict(before=_diff_view(current), after={})
        if self.client.check_mode:
            return

        done = dict(self.results, removed_metadata_volumes=[], removed_containers=[], disconnected_containers=[],
                    removed_volumes=[])
        for item in to_remove:
            name = ns.container_name(item)
            with self.client.api_errors('remove the container %s of namespace %s' % (name, self.name), **done):
                ns.unless_missing(self.api.remove_container, item['Id'], force=True, v=params['remove_volumes'])
            done['removed_containers'].append(name)
        for item in to_disconnect:
            name = ns.container_name(item)
            with self.client.api_errors('disconnect the container %s from the network %s' % (name, self.name), **done):
                self.api.disconnect_container_from_network(item['Id'], network['Id'], force=True)
            done['disconnected_containers'].append(name)
        if network is not None:
            with self.client.api_errors('remove the network %s' % self.name, **done):
                self._remove_network(network)
        # The metadata goes once the network is gone: a run that stops before leaves a whole namespace.
        for name in metadata_names:
            with self.client.api_errors('remove the metadata volume %s of namespace %s (the namespace network was '
                                        'removed)' % (name, self.name), **done):
                ns.remove_volumes(self.api, [name])
            done['removed_metadata_volumes'].append(name)
        if params['remove_volumes']:
            for name in volume_names:
                with self.client.api_errors('remove the volume %s of namespace %s (the namespace itself was removed)' % (
                        name, self.name), **done):
                    ns.unless_missing(self.api.remove_volume, name)
                done['removed_volumes'].append(name)

    def _remove_network(self, network, settle=NETWORK_SETTLE_SECONDS):
        """Remove the namespace network once its endpoints are gone.

        The engine tears down the endpoint of a container it has just removed (here or by another client) a moment
        after the removal returns; while it does, removing the network fails with "has active endpoints" although no
        container is attached any more. Such a failure is retried for up to ``settle`` seconds; a container attached
        meanwhile fails the removal with its name.
        """
        deadline = time.monotonic() + settle
        while True:
            try:
                self.api.remove_network(network['Id'])
                return
            except Exception as exc:  # pylint: disable=broad-exception-caught  # re-raised unless it is the endpoints case
                if 'active endpoints' not in error_text(exc):
                    raise
            attached = ns.attached_containers(self.api, network)
            if attached:
                self.fail('Namespace %s: the container(s) %s were attached to its network while it was being removed; '
                          'nothing else was left behind: run the task again.' % (
                              self.name, ', '.join(sorted(ns.container_name(item) for item in attached))))
            if time.monotonic() >= deadline:
                self.fail('Namespace %s: the engine still counts an endpoint on the network %s after %s s although no '
                          'container is attached to it (a fault of the engine, seen after an interrupted container removal and '
                          'after many container replacements on the network): '
                          'restart the Docker engine, then run the task again. Its containers were removed; the network '
                          'and the namespace metadata are left.' % (self.name, network['Name'], settle))
            time.sleep(0.5)

    def _carried_volumes(self, containers, known):
        """Return the volumes the engine carried over for ``containers`` (list entries) that exist, are not in
        ``known`` and are labelled for no other namespace."""
        result = []
        for name in ns.carried_volumes(containers):
            if name in known:
                continue
            with self.client.api_errors('inspect the volume %s carried over by a container of namespace %s' % (
                    name, self.name), **self.results):
                volume = ns.unless_missing(self.api.inspect_volume, name)
            if volume is None:
                continue
            labels = volume.get('Labels') or {}
            owner = labels.get(ns.LABEL_NAMESPACE)
            if (owner and owner != self.name) or labels.get(ns.LABEL_NS_META):
                self.client.module.warn('The volume %s is named in the %s label of a container of namespace %s but belongs '
                                        'to %s: it was left alone.' % (
                                            name, ns.LABEL_ANONYMOUS_VOLUMES, self.name,
                                            'namespace %s' % owner if owner else 'the metadata of a namespace'))
                continue
            result.append(name)
        return result


def run_namespace(client):
    """Run the namespace module with ``client`` (a ``DockerClient`` built from :func:`namespace_argument_spec`); exit
    the module."""
    if client.params['lock_timeout'] < 0:
        client.fail('lock_timeout must be 0 or more, not %s.' % client.params['lock_timeout'])
    lock = namespace_lock(client, client.params['name'], 'hna.cloudos.namespace', client.params['lock_timeout'])
    try:
        lock.acquire()
    except LockError as exc:
        client.fail('%s Nothing was changed.' % exc)
    try:
        results = NamespaceModule(client).run()
    finally:
        lock.release()
    client.close()
    client.module.exit_json(**results)
