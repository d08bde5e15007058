# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fake Docker engine (in place of ``docker.APIClient``) for running the namespace modules in unit tests."""

from __future__ import annotations

import copy

import docker
import requests

VERSION = {'Version': '20.10.24', 'ApiVersion': '1.41', 'MinAPIVersion': '1.12'}


def not_found(what):
    response = requests.Response()
    response.status_code = 404
    return docker.errors.NotFound('%s not found' % what, response=response, explanation='No such object: %s' % what)


def _matches(labels, label_filter):
    key, equals, value = label_filter.partition('=')
    return key in labels and (not equals or labels[key] == value)


class FakeNamespaceEngine(object):
    """Networks, volumes, containers and images kept in memory (class attributes, so the test sees the module's)."""

    networks_by_name = {}
    volume_list = []
    container_list = []
    images_by_id = {}
    calls = []

    @classmethod
    def reset(cls, networks=(), volumes=(), containers=(), images=()):
        cls.networks_by_name = dict((network['Name'], copy.deepcopy(network)) for network in networks)
        cls.volume_list = [copy.deepcopy(volume) for volume in volumes]
        cls.container_list = [copy.deepcopy(container) for container in containers]
        cls.images_by_id = dict((image['Id'], image) for image in images)
        cls.calls = []

    def __init__(self, base_url=None, version=None, timeout=None, tls=False, **kwargs):
        self._version = version

    def _record(self, *call):
        FakeNamespaceEngine.calls.append(call)

    def version(self, api_version=True):
        return dict(VERSION)

    def close(self):
        pass

    # -- networks

    def networks(self, filters=None):
        self._record('networks', filters)
        label = (filters or {}).get('label')
        return [copy.deepcopy(network) for network in self.networks_by_name.values()
                if not label or _matches(network.get('Labels') or {}, label)]

    def inspect_network(self, name):
        self._record('inspect_network', name)
        if name in self.networks_by_name:
            return copy.deepcopy(self.networks_by_name[name])
        raise not_found('network %s' % name)

    def create_network(self, name, driver=None, ipam=None, labels=None, check_duplicate=None):
        self._record('create_network', name)
        ident = ('%s-id' % name).ljust(64, '0')
        self.networks_by_name[name] = dict(Name=name, Id=ident, Driver=driver, Labels=dict(labels or {}), IPAM=ipam)
        return dict(Id=ident, Warning='')

    def remove_network(self, ident):
        self._record('remove_network', ident)
        for name, network in list(self.networks_by_name.items()):
            if network['Id'] == ident:
                del self.networks_by_name[name]

    # -- volumes

    def volumes(self, filters=None):
        self._record('volumes', filters)
        label = (filters or {}).get('label')
        return dict(Volumes=[copy.deepcopy(volume) for volume in self.volume_list
                             if not label or _matches(volume.get('Labels') or {}, label)])

    def inspect_volume(self, name):
        for volume in self.volume_list:
            if volume['Name'] == name:
                return copy.deepcopy(volume)
        raise not_found('volume %s' % name)

    def create_volume(self, name=None, driver=None, labels=None):
        self._record('create_volume', name)
        for volume in self.volume_list:
            if volume['Name'] == name:
                return copy.deepcopy(volume)
        volume = dict(Name=name, Driver=driver, Labels=dict(labels or {}))
        self.volume_list.append(volume)
        return copy.deepcopy(volume)

    def remove_volume(self, name):
        self._record('remove_volume', name)
        for volume in self.volume_list:
            if volume['Name'] == name:
                self.volume_list.remove(volume)
                return
        raise not_found('volume %s' % name)

    # -- containers and images

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        self._record('containers', filters)
        label = (filters or {}).get('label')
        networks = (filters or {}).get('network')
        result = []
        for container in self.container_list:
            if label and not _matches(container['Config'].get('Labels') or {}, label):
                continue
            if networks and not set(container['NetworkSettings']['Networks']) & set(networks):
                continue
            result.append(dict(Id=container['Id'], Names=[container['Name']], Labels=dict(container['Config'].get('Labels') or {})))
        return result

    def inspect_container(self, ident):
        self._record('inspect_container', ident)
        for container in self.container_list:
            if ident in (container['Id'], container['Name'].lstrip('/')):
                return copy.deepcopy(container)
        raise not_found('container %s' % ident)

    def remove_container(self, ident, force=False, v=False):
        self._record('remove_container', ident, v)
        self.container_list[:] = [container for container in self.container_list if container['Id'] != ident]

    def disconnect_container_from_network(self, ident, network, force=False):
        self._record('disconnect', ident, network)

    def inspect_image(self, ident):
        self._record('inspect_image', ident)
        if ident in self.images_by_id:
            return copy.deepcopy(self.images_by_id[ident])
        raise not_found('image %s' % ident)


def container(name, namespace='shop', service=None, replica=None, running=True, health=None, exit_code=0,
              image='hnatest/busybox:1', image_id='sha256:' + 'a' * 64, ports=None, address='10.240.0.2',
              created='2024-05-02T08:16:02.123456789Z', started='2024-05-02T08:16:03.5Z', memory=0):
    """Return the inspect dict of a container; ``ports`` are the bindings (``{'80/tcp': [{...}]}``)."""
    labels = {'io.hna.cloudos.namespace': namespace} if namespace else {}
    if service:
        labels['io.hna.cloudos.service'] = service
    if replica is not None:
        labels['io.hna.cloudos.replica'] = str(replica)
    state = dict(Status='running' if running else 'exited', Running=running, ExitCode=0 if running else exit_code,
                 StartedAt=started if started else '0001-01-01T00:00:00Z')
    if health:
        state['Health'] = dict(Status=health)
    return dict(
        Id=(name.replace('-', '') * 64)[:64], Name='/' + name, Created=created, Image=image_id,
        Config=dict(Labels=labels, Image=image), State=state,
        HostConfig=dict(Memory=memory, NanoCpus=0, PortBindings=copy.deepcopy(ports or {})),
        NetworkSettings=dict(Ports=copy.deepcopy(ports or {}) if running else {},
                             Networks={namespace or 'bridge': dict(IPAddress=address if running else '')}),
    )
