# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of the ``hna.cloudos.docker_host_info`` module: the engine's facts and the summaries of its objects.

The module file holds the documentation and calls :func:`run_docker_host_info`. The functions that
turn the engine's answers into facts (:func:`build_host_info`, ``summarize_*``) have no side effects.
"""

from __future__ import annotations


def _text(value):
    return '' if value is None else str(value)


def _list(value):
    return list(value) if isinstance(value, (list, tuple)) else []


def insecure_registries(registry_config):
    """Return the insecure registries of an ``/info`` ``RegistryConfig``, as ``docker info`` shows them."""
    registry_config = registry_config or {}
    names = sorted(
        name for name, index in (registry_config.get('IndexConfigs') or {}).items()
        if isinstance(index, dict) and index.get('Secure') is False
    )
    return names + [_text(cidr) for cidr in _list(registry_config.get('InsecureRegistryCIDRs'))]


def build_host_info(version, info, network_count, volume_count, api_version_used):
    """Build ``host_info`` from the engine's ``/version`` and ``/info`` answers and the object counts."""
    version = version or {}
    info = info or {}
    registry_config = info.get('RegistryConfig') or {}
    swarm = info.get('Swarm') or {}
    return dict(
        docker_version=_text(version.get('Version') or info.get('ServerVersion')),
        api_version=_text(version.get('ApiVersion')),
        min_api_version=_text(version.get('MinAPIVersion')),
        api_version_used=_text(api_version_used),
        git_commit=_text(version.get('GitCommit')),
        go_version=_text(version.get('GoVersion')),
        name=_text(info.get('Name')),
        operating_system=_text(info.get('OperatingSystem')),
        os_type=_text(info.get('OSType') or version.get('Os')),
        kernel_version=_text(info.get('KernelVersion') or version.get('KernelVersion')),
        architecture=_text(info.get('Architecture')),
        ncpu=int(info.get('NCPU') or 0),
        mem_total=int(info.get('MemTotal') or 0),
        docker_root_dir=_text(info.get('DockerRootDir')),
        storage_driver=_text(info.get('Driver')),
        logging_driver=_text(info.get('LoggingDriver')),
        cgroup_driver=_text(info.get('CgroupDriver')),
        cgroup_version=_text(info.get('CgroupVersion')),
        live_restore=bool(info.get('LiveRestoreEnabled')),
        registry_mirrors=[_text(mirror) for mirror in _list(registry_config.get('Mirrors'))],
        insecure_registries=insecure_registries(registry_config),
        swarm_state=_text(swarm.get('LocalNodeState')),
        containers=int(info.get('Containers') or 0),
        containers_running=int(info.get('ContainersRunning') or 0),
        containers_paused=int(info.get('ContainersPaused') or 0),
        containers_stopped=int(info.get('ContainersStopped') or 0),
        images=int(info.get('Images') or 0),
        networks=int(network_count),
        volumes=int(volume_count),
    )


def summarize_container(container):
    """Summarise one entry of the engine's container list."""
    return dict(
        id=_text(container.get('Id')),
        names=[_text(name).lstrip('/') for name in _list(container.get('Names'))],
        image=_text(container.get('Image')),
        image_id=_text(container.get('ImageID')),
        state=_text(container.get('State')),
        status=_text(container.get('Status')),
        created=int(container.get('Created') or 0),
    )


def summarize_image(image):
    """Summarise one entry of the engine's image list."""
    return dict(
        id=_text(image.get('Id')),
        tags=[_text(tag) for tag in _list(image.get('RepoTags')) if tag != '<none>:<none>'],
        digests=[_text(digest) for digest in _list(image.get('RepoDigests')) if digest != '<none>@<none>'],
        size=int(image.get('Size') or 0),
        created=int(image.get('Created') or 0),
    )


def summarize_network(network):
    """Summarise one entry of the engine's network list."""
    return dict(
        id=_text(network.get('Id')),
        name=_text(network.get('Name')),
        driver=_text(network.get('Driver')),
        scope=_text(network.get('Scope')),
        internal=bool(network.get('Internal')),
    )


def summarize_volume(volume):
    """Summarise one entry of the engine's volume list."""
    return dict(
        name=_text(volume.get('Name')),
        driver=_text(volume.get('Driver')),
        mountpoint=_text(volume.get('Mountpoint')),
        scope=_text(volume.get('Scope')),
        created_at=_text(volume.get('CreatedAt')),
    )


def docker_host_info_argument_spec():
    """Return the options of the docker_host_info module (a fresh dictionary each call)."""
    return dict(
        containers=dict(type='bool', default=False),
        containers_all=dict(type='bool', default=False),
        images=dict(type='bool', default=False),
        networks=dict(type='bool', default=False),
        volumes=dict(type='bool', default=False),
    )


DOCKER_HOST_INFO_MODULE_KWARGS = dict(
    supports_check_mode=True,
)


def run_docker_host_info(client):
    """Run the docker_host_info module with ``client`` (built from :func:`docker_host_info_argument_spec`); exit the module."""
    params = client.params
    results = dict(changed=False)

    with client.api_errors('describe itself', **results):
        info = client.api.info()
    with client.api_errors('list the networks', **results):
        networks = client.api.networks() or []
    with client.api_errors('list the volumes', **results):
        volumes = (client.api.volumes() or {}).get('Volumes') or []

    host_info = build_host_info(client.server_version, info, len(networks), len(volumes), client.api_version)
    results.update(host_info=host_info, docker_version=host_info['docker_version'], api_version=host_info['api_version'])

    if params['containers']:
        with client.api_errors('list the containers', **results):
            containers = client.api.containers(all=params['containers_all']) or []
        results['containers'] = [summarize_container(container) for container in containers]
    if params['images']:
        with client.api_errors('list the images', **results):
            images = client.api.images() or []
        results['images'] = [summarize_image(image) for image in images]
    if params['networks']:
        results['networks'] = [summarize_network(network) for network in networks]
    if params['volumes']:
        results['volumes'] = [summarize_volume(volume) for volume in volumes]

    client.close()
    client.module.exit_json(**results)
