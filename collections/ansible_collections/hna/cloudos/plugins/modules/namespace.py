#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: namespace
short_description: Create, change or remove a namespace (an isolated network with metadata and quotas) on a Docker engine
version_added: 0.1.0
description:
  - A namespace groups the containers and volumes of one application or team on a Docker engine. It is a user-defined
    bridge network named after the namespace, on its own private IPv4 subnet. The containers of the namespace reach
    each other on it by service name, as C(<service>) and C(<service>.<namespace>).
  - The namespace also keeps metadata (region, description, owner, creation time) and quotas (how many containers and
    volumes, how many CPUs and how much memory its containers may reserve). Everything is kept as labels on the
    network (C(io.hna.cloudos.namespace=<name>), C(io.hna.cloudos.managed=true) and C(io.hna.cloudos.ns.*)); the module
    keeps no other state.
  - Containers and volumes belong to a namespace through their C(io.hna.cloudos.namespace=<name>) label. The modules of
    the collection that create containers or volumes in a namespace (such as M(hna.cloudos.container) and
    M(hna.cloudos.stack)) refuse a change that would exceed its quotas, before creating anything.
  - With O(state=present), creates the namespace, or brings its metadata and quotas to what the task says.
  - Docker cannot change the labels of a network. When the metadata or quotas of an existing namespace change, the
    module recreates its network with the same name, subnet, gateway and settings, and reconnects every container
    that was attached, with the same aliases and IPv4 addresses (running containers keep their current address,
    which becomes their configured address). The containers are off the network for a moment while this happens.
    The result says so (RV(network_recreated), RV(reconnected)), and so does check mode beforehand.
  - With O(state=absent), removes the namespace network. It refuses while containers remain in the namespace unless
    O(force=true).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the namespace, and of its network.
      - A lowercase DNS label of 1 to 63 characters (C(a-z), C(0-9) and C(-), starting and ending with a letter or
        digit), because services are reached as C(<service>.<name>).
      - V(bridge), V(host), V(none) and V(default) are kept by Docker and refused.
    type: str
    required: true
  state:
    description:
      - V(present) creates the namespace or updates its metadata and quotas.
      - V(absent) removes it (see O(force) and O(remove_volumes)).
    type: str
    choices: [present, absent]
    default: present
  subnet:
    description:
      - IPv4 subnet of the namespace network, in CIDR notation such as V(10.240.5.0/24).
      - Must be a private subnet (within V(10.0.0.0/8), V(172.16.0.0/12) or V(192.168.0.0/16)) of size V(/16) to
        V(/29), written with its network address, that overlaps no existing Docker network.
      - If not set, a free subnet is taken from O(subnet_pool) when the namespace is created.
      - The subnet of an existing namespace cannot be changed; giving a different one fails. Remove and create
        the namespace again to move it.
      - The gateway is the first address of the subnet.
    type: str
  subnet_pool:
    description:
      - Private IPv4 range in which a subnet is chosen when O(subnet) is not set.
      - The first block of size O(subnet_size) that overlaps no existing Docker network is used.
      - Only used when the namespace is created.
    type: str
    default: 10.240.0.0/12
  subnet_size:
    description:
      - Prefix length of the subnet chosen from O(subnet_pool), from V(16) to V(29). V(24) gives 254 addresses.
    type: int
    default: 24
  region:
    description:
      - Region the namespace belongs to, free text such as V(cn-north-2).
      - If not set, an existing namespace keeps its region. V('') removes it.
    type: str
  description:
    description:
      - What the namespace is for, free text.
      - If not set, an existing namespace keeps its description. V('') removes it.
    type: str
  owner:
    description:
      - Who is responsible for the namespace, free text such as a team or an e-mail address.
      - If not set, an existing namespace keeps its owner. V('') removes it.
    type: str
  quotas:
    description:
      - Limits of the namespace, checked by the modules that add containers or volumes to it.
      - When set, this is the whole set of quotas, and a quota left out is unlimited. If not set, an existing namespace
        keeps its quotas. V({}) removes every quota.
      - A quota lower than the current use is accepted with a warning; nothing is removed, but nothing more can be added.
    type: dict
    suboptions:
      containers:
        description: Most containers (in any state, stopped ones included) the namespace may hold.
        type: int
      volumes:
        description: Most volumes labelled for the namespace.
        type: int
      cpus:
        description:
          - Most CPUs the containers of the namespace may reserve together (the sum of their C(cpus) limits),
            such as V(2) or V(0.5).
          - A container without a CPU limit counts 0.
        type: float
      memory:
        description:
          - Most memory the containers of the namespace may reserve together (the sum of their memory limits).
          - Bytes, or a number with the unit V(b), V(k), V(m), V(g) or V(t) (binary units, as with Docker), such as
            V(512m) or V(4g).
          - A container without a memory limit counts 0.
        type: str
  force:
    description:
      - With O(state=absent), remove the namespace even though containers remain in it.
      - The containers labelled for the namespace are removed (running ones are killed), and containers of other
        namespaces that were also attached to its network are only disconnected.
      - Without O(force=true), the module fails while such containers remain, and lists them.
    type: bool
    default: false
  remove_volumes:
    description:
      - With O(state=absent), also remove the volumes labelled for the namespace, and the anonymous volumes of the
        containers O(force=true) removes.
      - Without it, those volumes are kept and listed in RV(kept_volumes).
      - When the namespace network is already gone, O(state=absent) still removes the volumes left labelled for the
        namespace with O(remove_volumes=true), and the containers left labelled for it with O(force=true).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
requirements:
  - netaddr (the Python library), on the host that runs the module
attributes:
  check_mode:
    support: full
    details:
      - Check mode reports the subnet that would be chosen, whether the network would be recreated and which
        containers would be reconnected or removed, without changing anything.
  diff_mode:
    support: full
    details:
      - The diff shows the subnet, metadata and quotas before and after.
  platform:
    support: full
    platforms: posix
notes:
  - The created time (RV(namespace.created)) is set when the namespace is created and never changes afterwards.
  - Paused containers cannot be reconnected, so changing the metadata or quotas of a namespace with a paused container
    attached fails without changing anything. Unpause it first.
  - If a container cannot be reconnected after the network was recreated, the module fails, names the container and
    gives the C(docker network connect) command that reconnects it as it was.
seealso:
  - module: hna.cloudos.namespace_info
  - name: Docker networking overview
    description: How containers on a user-defined bridge network reach each other by name.
    link: https://docs.docker.com/engine/network/
"""

EXAMPLES = r"""
- name: Create the namespace shop, with a subnet taken from the default pool
  hna.cloudos.namespace:
    name: shop
    region: cn-north-2
    description: Web shop (front, API and database)
    owner: team-shop@example.com
    quotas:
      containers: 20
      volumes: 10
      cpus: 8
      memory: 16g
  register: shop

- name: Show the subnet the namespace got
  ansible.builtin.debug:
    msg: "Namespace {{ shop.namespace.name }} uses {{ shop.namespace.subnet }} (gateway {{ shop.namespace.gateway }})"

- name: Create a namespace on a given subnet
  hna.cloudos.namespace:
    name: billing
    subnet: 10.250.8.0/24
    owner: team-billing

- name: Take namespace subnets of 64 addresses from another private range
  hna.cloudos.namespace:
    name: ci-runner-7
    subnet_pool: 192.168.128.0/17
    subnet_size: 26

- name: Raise the memory quota of shop (the other quotas must be repeated, or they become unlimited)
  hna.cloudos.namespace:
    name: shop
    quotas:
      containers: 20
      volumes: 10
      cpus: 8
      memory: 24g
  register: shop_quota

- name: Say when the containers of shop were reconnected to its new network
  ansible.builtin.debug:
    msg: "Reconnected: {{ shop_quota.reconnected | map(attribute='name') | join(', ') }}"
  when: shop_quota.network_recreated

- name: Remove a namespace that must be empty
  hna.cloudos.namespace:
    name: billing
    state: absent

- name: Remove a namespace with its containers and volumes
  hna.cloudos.namespace:
    name: ci-runner-7
    state: absent
    force: true
    remove_volumes: true
"""

RETURN = r"""
namespace:
  description:
    - The namespace after the task (what it would be, in check mode).
    - Empty after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the namespace.
      type: str
      sample: shop
    network:
      description: Name of the namespace network (the same as RV(namespace.name)).
      type: str
      sample: shop
    network_id:
      description: ID of the namespace network (empty in check mode before it exists).
      type: str
      sample: 9a2f1c0e5b8d7a6c4e3f2b1a0d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
    subnet:
      description: IPv4 subnet of the namespace network.
      type: str
      sample: 10.240.0.0/24
    gateway:
      description: Gateway address of the subnet.
      type: str
      sample: 10.240.0.1
    region:
      description: Region of the namespace (empty if not set).
      type: str
      sample: cn-north-2
    description:
      description: Description of the namespace (empty if not set).
      type: str
      sample: Web shop (front, API and database)
    owner:
      description: Owner of the namespace (empty if not set).
      type: str
      sample: team-shop@example.com
    created:
      description: When the namespace was created, in UTC (C(YYYY-MM-DDTHH:MM:SSZ)).
      type: str
      sample: '2024-05-02T08:15:00Z'
    managed:
      description: Whether the network carries the C(io.hna.cloudos.managed=true) label.
      type: bool
      sample: true
    quotas:
      description: Quotas of the namespace; V(null) means unlimited.
      type: dict
      contains:
        containers:
          description: Most containers.
          type: int
          sample: 20
        volumes:
          description: Most volumes.
          type: int
          sample: 10
        cpus:
          description: Most CPUs, summed over the containers' limits.
          type: float
          sample: 8.0
        memory:
          description: Most memory in bytes, summed over the containers' limits.
          type: int
          sample: 17179869184
    usage:
      description: What the namespace uses now.
      type: dict
      contains:
        containers:
          description: Containers labelled for the namespace, in any state.
          type: int
          sample: 3
        volumes:
          description: Volumes labelled for the namespace.
          type: int
          sample: 1
        cpus:
          description: Sum of the CPU limits of those containers (a container without limit counts 0).
          type: float
          sample: 1.5
        memory:
          description: Sum of the memory limits of those containers, in bytes (a container without limit counts 0).
          type: int
          sample: 1610612736
    available:
      description: What is left under each quota (never below 0); V(null) for an unlimited quota.
      type: dict
      contains:
        containers:
          description: Containers that may still be added.
          type: int
          sample: 17
        volumes:
          description: Volumes that may still be added.
          type: int
          sample: 9
        cpus:
          description: CPUs that may still be reserved.
          type: float
          sample: 6.5
        memory:
          description: Bytes of memory that may still be reserved.
          type: int
          sample: 15569256448
    over_quota:
      description:
        - One sentence per quota the namespace already uses more of than allowed (after a quota was lowered below the
          current use). A warning is also given for each.
      type: list
      elements: str
      sample: ['containers: 3 in use, quota 2']
network_recreated:
  description:
    - Whether the namespace network was (or, in check mode, would be) removed and created again to change its labels.
  returned: always
  type: bool
  sample: false
reconnected:
  description:
    - The containers that were (or would be) reconnected to the recreated network, with how they are connected.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Container name.
      type: str
      sample: shop-api
    aliases:
      description: Network aliases of the container on the namespace network.
      type: list
      elements: str
      sample: [api, api.shop]
    ipv4_address:
      description: IPv4 address asked for on reconnection (V(null) for a stopped container without a configured address).
      type: str
      sample: 10.240.0.3
    running:
      description: Whether the container was running.
      type: bool
      sample: true
removed_containers:
  description: Names of the containers removed (or that would be removed) with the namespace (O(state=absent), O(force=true)).
  returned: always
  type: list
  elements: str
  sample: [shop-api, shop-db]
disconnected_containers:
  description:
    - Names of the containers of other namespaces (or of none) that were only disconnected from the namespace network
      before it was removed (O(state=absent), O(force=true)).
  returned: always
  type: list
  elements: str
  sample: []
removed_volumes:
  description: Names of the namespace volumes removed (or that would be removed) with O(remove_volumes=true).
  returned: always
  type: list
  elements: str
  sample: [shop-db-data]
kept_volumes:
  description: Names of the namespace volumes left in place by O(state=absent) without O(remove_volumes=true).
  returned: always
  type: list
  elements: str
  sample: [shop-db-data]
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils import _namespace as ns


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


def _describe_member(member):
    return dict(name=member['name'], aliases=list(member['aliases']), ipv4_address=member['ipv4_address'],
                running=member['running'])


class NamespaceModule(object):
    """What the module does, step by step."""

    def __init__(self, client):
        self.client = client
        self.api = client.api
        self.params = client.params
        self.name = None
        self.quotas = None
        self.results = dict(changed=False, namespace={}, network_recreated=False, reconnected=[],
                            removed_containers=[], disconnected_containers=[], removed_volumes=[], kept_volumes=[])

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
        current = ns.namespace_from_network(network)
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
        desired = ns.namespace_labels(self.name, self._metadata(current), quotas, created=current['created'])
        old_labels = network.get('Labels') or {}
        if ns.own_labels(old_labels) == desired:
            self.finish(current, current)
            return

        new_labels = dict((key, value) for key, value in old_labels.items() if key not in ns.own_labels(old_labels))
        new_labels.update(desired)
        self.results['changed'] = True
        self.results['network_recreated'] = True
        with self.client.api_errors('list the containers attached to the network %s' % self.name, **self.results):
            members = ns.network_members(self.api, network)
        self.results['reconnected'] = [_describe_member(member) for member in members]
        after = _model_for(self.name, new_labels, current['subnet'], current['gateway'], network.get('Id') or '')
        if not self.client.check_mode:
            try:
                outcome = ns.recreate_network(self.api, network, new_labels, members)
            except ns.NamespaceError as exc:
                self.fail(str(exc))
            after['network_id'] = outcome['network_id'] or ''
            if outcome['failed']:
                failed = set(item['name'] for item in outcome['failed'])
                self.results['reconnected'] = [item for item in self.results['reconnected'] if item['name'] not in failed]
                self.results['namespace'] = after
                self.fail(ns.reconnect_failure_message(self.name, outcome['failed']))
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
            current = ns.namespace_from_network(network)
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
        self.results['removed_containers'] = [ns.container_name(item) for item in to_remove]
        self.results['disconnected_containers'] = [ns.container_name(item) for item in to_disconnect]
        if params['remove_volumes']:
            self.results['removed_volumes'] = volume_names
        else:
            self.results['kept_volumes'] = volume_names
        self.results['changed'] = bool(network is not None or to_remove or self.results['removed_volumes'])
        if not self.results['changed']:
            return
        if self.client.module._diff:
            self.results['diff'] = dict(before=_diff_view(current), after={})
        if self.client.check_mode:
            return

        done = dict(self.results, removed_containers=[], disconnected_containers=[], removed_volumes=[])
        for item in to_remove:
            name = ns.container_name(item)
            with self.client.api_errors('remove the container %s of namespace %s' % (name, self.name), **done):
                try:
                    self.api.remove_container(item['Id'], force=True, v=params['remove_volumes'])
                except Exception as exc:  # pylint: disable=broad-except
                    if not _gone(exc):
                        raise
            done['removed_containers'].append(name)
        for item in to_disconnect:
            name = ns.container_name(item)
            with self.client.api_errors('disconnect the container %s from the network %s' % (name, self.name), **done):
                self.api.disconnect_container_from_network(item['Id'], network['Id'], force=True)
            done['disconnected_containers'].append(name)
        if network is not None:
            with self.client.api_errors('remove the network %s' % self.name, **done):
                self.api.remove_network(network['Id'])
        if params['remove_volumes']:
            for name in volume_names:
                with self.client.api_errors('remove the volume %s of namespace %s (the namespace itself was removed)' % (
                        name, self.name), **done):
                    try:
                        self.api.remove_volume(name)
                    except Exception as exc:  # pylint: disable=broad-except
                        if not _gone(exc):
                            raise
                done['removed_volumes'].append(name)


def _gone(exc):
    """Tell whether an engine error says the object no longer exists (removed meanwhile)."""
    return getattr(exc, 'status_code', None) == 404


def main():
    client = DockerClient(
        argument_spec=dict(
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
        ),
        supports_check_mode=True,
    )
    results = NamespaceModule(client).run()
    client.close()
    client.module.exit_json(**results)


if __name__ == '__main__':
    main()
