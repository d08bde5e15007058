#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_prune
short_description: Delete old images from an image registry, keeping the newest, the protected and those in use
version_added: 0.1.0
description:
  - For each repository chosen with O(repository) or O(repositories), reads every tag of the repository with the
    digest and creation time of the image it points at (Docker Registry HTTP API v2), then deletes the manifests
    (by digest) that no rule keeps.
  - "A digest is kept when any of these holds: one of its tags is among the O(keep_last) newest tags of the repository
    (by the creation time of the image configuration, then by tag name); one of its tags matches O(keep_patterns); it is
    in O(protected_digests) or O(in_use_digests); a container on one of the O(in_use_hosts) Docker engines uses it
    (running or not, found by the image's repository digests or by its image ID)."
  - Deleting a manifest removes every tag that points at it. So when any tag of a digest must stay, the digest and all
    its tags stay; RV(kept) tells why. The platform manifests of a kept multi-platform index stay as well.
  - Deleting manifests does not free disk space, the registry's garbage collector does. With O(garbage_collect), the
    module runs it inside the registry container through a Docker engine after it deleted anything.
  - In check mode, nothing is deleted and RV(deleted) lists what would be.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  username:
    description:
      - User name, with the right to delete. When not given, the credentials stored for the registry in O(config_path)
        are used, if any.
    type: str
  config_path:
    description:
      - Docker client configuration file to read the credentials from when O(username) is not given.
      - Defaults to C($DOCKER_CONFIG/config.json) when E(DOCKER_CONFIG) is set, otherwise C(~/.docker/config.json).
    type: path
  repository:
    description:
      - The repository to prune, for example V(shop/web). Fails when the registry does not know it.
      - One of O(repository) and O(repositories) is required.
    type: str
  repositories:
    description:
      - Prune every repository of the registry catalog whose whole name matches one of these Python regular
        expressions (for example V(shop/.*)). A plain name matches only itself.
    type: list
    elements: str
  keep_last:
    description:
      - How many of the newest tags of each repository to keep, ordered by the creation time of their image
        (tags of the same image count one by one). Between equal times, the tag whose name sorts last counts as newer.
      - V(0) keeps no tag for its age; only the other rules keep images then.
    type: int
    required: true
  keep_patterns:
    description:
      - Keep every tag whose whole name matches one of these Python regular expressions (for example V(v[0-9]+\\..*)
        or V(latest|stable)), and so its digest.
    type: list
    elements: str
    default: []
  protected_digests:
    description:
      - Manifest digests (V(sha256:...)) never to delete.
    type: list
    elements: str
    default: []
  in_use_digests:
    description:
      - Manifest digests that are in use somewhere and so are never deleted, for callers that gathered them
        themselves (for example from Docker engines the module cannot reach). Image IDs (configuration digests) are accepted too.
    type: list
    elements: str
    default: []
  in_use_hosts:
    description:
      - Docker engines (C(docker_host) addresses such as V(unix:///var/run/docker.sock), V(tcp://192.0.2.10:2375) or
        V(https://192.0.2.10:2376)) whose containers (running or stopped) protect the images they were created from.
      - The module fails if one of them cannot be reached, rather than delete an image that may be in use.
      - V(https://) addresses use TLS with O(docker_ca_path), O(docker_client_cert) and O(docker_client_key).
    type: list
    elements: str
    default: []
  docker_ca_path:
    description:
      - CA certificate (PEM) of the Docker engines reached with V(https://) in O(in_use_hosts) and O(garbage_collect.docker_host).
        Without it, their certificates are not checked.
    type: path
  docker_client_cert:
    description:
      - Client certificate (PEM) presented to those Docker engines. Requires O(docker_client_key).
    type: path
  docker_client_key:
    description:
      - Private key (PEM) of O(docker_client_cert).
    type: path
  garbage_collect:
    description:
      - Run the registry's garbage collector (C(registry garbage-collect CONFIG)) in the registry container through the
        Docker engine that runs it, after this run deleted at least one manifest (not in check mode).
      - The garbage collector must not run while images are pushed. Run it with the registry read-only
        (C(storage.maintenance.readonly)) or while nobody pushes, or layers of a concurrent push can be lost.
    type: dict
    suboptions:
      container:
        description:
          - Name or ID of the registry container.
        type: str
        required: true
      docker_host:
        description:
          - Address of the Docker engine that runs the container.
        type: str
        default: unix:///var/run/docker.sock
      config:
        description:
          - Path of the registry configuration file inside the container.
        type: str
        default: /etc/docker/registry/config.yml
      delete_untagged:
        description:
          - Also delete manifests that no tag points at any more (C(--delete-untagged)), for example the platform
            manifests of a deleted index, or images pushed by digest only.
        type: bool
        default: false
  timeout:
    description:
      - Seconds to wait for each answer of the registry and of the Docker engines.
    type: int
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.registry
attributes:
  check_mode:
    support: full
    details:
      - Nothing is deleted and the garbage collector does not run; RV(deleted) lists what would be deleted.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
requirements:
  - The Docker SDK for Python (the C(docker) Python package) 7.1 or newer, only with O(in_use_hosts) or O(garbage_collect).
notes:
  - The registry must allow deletes (C(storage.delete.enabled=true) in the CNCF Distribution configuration,
    E(REGISTRY_STORAGE_DELETE_ENABLED=true)); otherwise the module fails with a message saying so.
  - Images pulled by tag on a Docker engine are recognised by the repository digests the engine recorded at pull time,
    and by their image ID. An image copied to an engine another way (C(docker load)) is only recognised by its image ID.
seealso:
  - module: hna.cloudos.registry_info
  - module: hna.cloudos.registry_login
  - name: CNCF Distribution garbage collection
    description: How the registry's garbage collector works, and why it needs the registry idle or read-only.
    link: https://distribution.github.io/distribution/about/garbage-collection/
"""

EXAMPLES = r"""
- name: Keep the 10 newest images of shop/web, every release tag, and whatever the hosts run
  hna.cloudos.registry_prune:
    registry_url: registry.example.com:5000
    username: cleaner
    password: "{{ vault_registry_cleaner_password }}"
    repository: shop/web
    keep_last: 10
    keep_patterns:
      - 'v[0-9]+\.[0-9]+\.[0-9]+'
      - latest
    in_use_hosts:
      - unix:///var/run/docker.sock
  register: pruned

- name: Show what was deleted and why the rest stays
  ansible.builtin.debug:
    msg:
      deleted: "{{ pruned.deleted | map(attribute='tags') | flatten }}"
      kept: "{{ pruned.kept | items2dict(key_name='digest', value_name='reasons') }}"

- name: Prune every shop repository, then free the space in the registry container
  hna.cloudos.registry_prune:
    registry_url: registry.example.com:5000
    repositories:
      - 'shop/.*'
    keep_last: 5
    protected_digests:
      - sha256:4f3c1d1a1c7e0f5b8c6f2a9d3e0b7c4a5d6e7f8091a2b3c4d5e6f708192a3b4c
    garbage_collect:
      container: registry
      delete_untagged: true
"""

RETURN = r"""
registry:
  description: Name of the registry (V(HOST:PORT)).
  returned: always
  type: str
  sample: registry.example.com:5000
deleted:
  description: The manifests deleted (in check mode, those that would be), with the tags that pointed at them.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: Repository name.
      type: str
      sample: shop/web
    digest:
      description: Manifest digest.
      type: str
      sample: sha256:0e5f2d1c3b4a59687766554433221100ffeeddccbbaa99887766554433221100
    tags:
      description: Tags that pointed at it.
      type: list
      elements: str
      sample: [build-17]
    created:
      description: Creation time of the image, or V(null) if unknown.
      type: str
      sample: '2024-05-02T09:14:11.123456789Z'
kept:
  description: The manifests kept, with their tags and every reason to keep them.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: Repository name.
      type: str
      sample: shop/web
    digest:
      description: Manifest digest.
      type: str
      sample: sha256:9ef70cd9d1dbd068aca947a810cd93f68eea1083c0d95d8a10a051aa8cb460a3
    tags:
      description: Tags that point at it.
      type: list
      elements: str
      sample: [v1.2.0, latest]
    created:
      description: Creation time of the image, or V(null) if unknown.
      type: str
      sample: '2024-05-03T10:00:00Z'
    reasons:
      description: Why it is kept.
      type: list
      elements: str
      sample: [tag latest matches keep pattern latest, in use by container web on unix:///var/run/docker.sock]
garbage_collect:
  description: Result of the garbage collector run.
  returned: when O(garbage_collect) is set
  type: dict
  contains:
    ran:
      description: Whether it ran (only after a run that deleted something, and not in check mode).
      type: bool
      sample: true
    output:
      description: Its last output lines.
      type: str
      sample: '3 blobs marked, 2 blobs and 0 manifests eligible for deletion'
"""

import datetime
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.hna.cloudos.plugins.module_utils._registry import (
    registry_common_argument_spec,
    RegistryClient,
    RegistryError,
    compile_patterns,
    default_config_path,
    is_digest,
    load_credentials,
    matching_pattern,
    one_line,
    parse_registry_url,
    select_prune,
)
from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import (
    MIN_DOCKER_API_VERSION,
    DockerClientError,
    api_error_message,
    connection_error_message,
    parse_docker_host,
)

DOCKER_IMPORT_ERROR = None
try:
    import docker
    from docker.errors import APIError, DockerException, NotFound
    from docker.tls import TLSConfig
    from requests.exceptions import RequestException
except ImportError:
    DOCKER_IMPORT_ERROR = traceback.format_exc()
    HAS_DOCKER = False
else:
    HAS_DOCKER = True


def created_key(text):
    """Sort key of an RFC 3339 time (any number of fraction digits, any offset); unknown times sort first."""
    if not text:
        return (0, 0.0)
    value = text.strip().replace('z', 'Z')
    fraction = 0.0
    main, zone = value, ''
    if value.endswith('Z'):
        main, zone = value[:-1], '+00:00'
    elif len(value) > 6 and value[-6] in '+-' and value[-3] == ':':
        main, zone = value[:-6], value[-6:]
    if '.' in main:
        main, digits = main.split('.', 1)
        fraction = float('0.' + (digits or '0'))
    try:
        moment = datetime.datetime.fromisoformat(main + zone)
    except ValueError:
        return (0, 0.0)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return (1, moment.timestamp() + fraction)


class Engines(object):
    """The Docker engines the module talks to (in_use_hosts and the garbage collector)."""

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=one_line(msg), **kwargs)

    def connect(self, address, option):
        """Connect to the Docker engine at ``address`` (given in ``option``); fail with a one-line message."""
        if not HAS_DOCKER:
            self.fail(missing_required_lib('docker') + ' (needed for in_use_hosts and garbage_collect)')
        try:
            host = parse_docker_host(address)
        except DockerClientError as exc:
            self.fail('%s: %s' % (option, exc))
        tls = False
        if host.scheme == 'https':
            cert, key, ca_path = self.params['docker_client_cert'], self.params['docker_client_key'], self.params['docker_ca_path']
            if bool(cert) != bool(key):
                self.fail('docker_client_cert and docker_client_key must be given together.')
            tls = TLSConfig(client_cert=(cert, key) if cert else None, ca_cert=ca_path, verify=bool(ca_path))
        try:
            api = docker.APIClient(base_url=host.url, version=MIN_DOCKER_API_VERSION, timeout=self.params['timeout'], tls=tls)
            api.version(api_version=False)
        except RequestException as exc:
            self.fail('%s: %s' % (option, connection_error_message(address, exc)))
        except DockerException as exc:
            self.fail('%s: cannot use the Docker engine at %s: %s' % (option, address, one_line(exc)))
        return api

    def in_use(self, address):
        """Return ``(by_repo_digest, by_image_id)``: dicts mapping a digest to descriptions of the containers using it."""
        api = self.connect(address, 'in_use_hosts')
        by_digest, by_id = {}, {}
        try:
            containers = api.containers(all=True)
            images = {}
            for container in containers:
                name = (container.get('Names') or [container.get('Id', '')[:12]])[0].lstrip('/')
                user = 'container %s on %s' % (name, address)
                image_id = container.get('ImageID')
                reference = container.get('Image') or ''
                if '@' in reference:
                    by_digest.setdefault(reference.rsplit('@', 1)[1], []).append(user)
                if image_id:
                    by_id.setdefault(image_id, []).append(user)
                    if image_id not in images:
                        try:
                            images[image_id] = api.inspect_image(image_id).get('RepoDigests') or []
                        except NotFound:
                            images[image_id] = []
                    for repo_digest in images[image_id]:
                        by_digest.setdefault(repo_digest.rsplit('@', 1)[-1], []).append(user)
        except APIError as exc:
            self.fail(api_error_message(address, 'list its containers and their images', exc))
        except RequestException as exc:
            self.fail(connection_error_message(address, exc))
        finally:
            api.close()
        return by_digest, by_id

    def garbage_collect(self, settings):
        address = settings['docker_host']
        api = self.connect(address, 'garbage_collect.docker_host')
        command = ['registry', 'garbage-collect']
        if settings['delete_untagged']:
            command.append('--delete-untagged')
        command.append(settings['config'])
        what = 'run the garbage collector in container %s' % settings['container']
        try:
            exec_id = api.exec_create(settings['container'], command, stdout=True, stderr=True)
            output = api.exec_start(exec_id)
            exit_code = api.exec_inspect(exec_id).get('ExitCode')
        except APIError as exc:
            self.fail(api_error_message(address, what, exc))
        except RequestException as exc:
            self.fail(connection_error_message(address, exc))
        finally:
            api.close()
        text = output.decode('utf-8', 'replace') if isinstance(output, bytes) else str(output)
        lines = [line for line in text.splitlines() if line.strip()]
        if exit_code != 0:
            return False, 'The garbage collector in container %s on %s failed (exit code %s): %s' % (
                settings['container'], address, exit_code, one_line(' '.join(lines[-3:])) or 'no output')
        summary = [line for line in lines if 'eligible for deletion' in line or 'blobs marked' in line]
        return True, '\n'.join(summary[-1:] or lines[-1:])


def main():
    argument_spec = registry_common_argument_spec()
    argument_spec.update(
        repository=dict(type='str'),
        repositories=dict(type='list', elements='str'),
        keep_last=dict(type='int', required=True),
        keep_patterns=dict(type='list', elements='str', default=[]),
        protected_digests=dict(type='list', elements='str', default=[]),
        in_use_digests=dict(type='list', elements='str', default=[]),
        in_use_hosts=dict(type='list', elements='str', default=[]),
        docker_ca_path=dict(type='path'),
        docker_client_cert=dict(type='path'),
        docker_client_key=dict(type='path', no_log=False),
        garbage_collect=dict(type='dict', options=dict(
            container=dict(type='str', required=True),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
            config=dict(type='str', default='/etc/docker/registry/config.yml'),
            delete_untagged=dict(type='bool', default=False),
        )),
        timeout=dict(type='int', default=60),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=[('username', 'password')],
        required_one_of=[('repository', 'repositories')],
        mutually_exclusive=[('repository', 'repositories')],
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, registry=None, deleted=[], kept=[])
    if params['keep_last'] < 0:
        module.fail_json(msg='keep_last must be 0 or more, not %s.' % params['keep_last'], **result)
    for option in ('protected_digests', 'in_use_digests'):
        for value in params[option]:
            if not is_digest(value):
                module.fail_json(msg='%s: %r is not a digest such as sha256:0123...' % (option, value), **result)

    engines = Engines(module)
    in_use_by_digest, in_use_by_id = {}, {}
    for value in params['in_use_digests']:
        in_use_by_digest.setdefault(value, []).append('in_use_digests')
        in_use_by_id.setdefault(value, []).append('in_use_digests')
    for address in params['in_use_hosts']:
        by_digest, by_id = engines.in_use(address)
        for digest, users in by_digest.items():
            in_use_by_digest.setdefault(digest, []).extend(users)
        for image_id, users in by_id.items():
            in_use_by_id.setdefault(image_id, []).extend(users)

    try:
        address = parse_registry_url(params['registry_url'])
        result['registry'] = address.host
        keep_patterns = compile_patterns(params['keep_patterns'], 'keep_patterns')
        repo_patterns = compile_patterns(params['repositories'], 'repositories')
        username, password = load_credentials(params, address, params['config_path'] or default_config_path())
        client = RegistryClient(params['registry_url'], username=username, password=password,
                                validate_certs=params['validate_certs'], ca_path=params['ca_path'], timeout=params['timeout'])
        try:
            if params['repository']:
                names = [params['repository']]
            else:
                names = [name for name in client.catalog() if matching_pattern(name, repo_patterns) is not None]
            plans = []
            for name in names:
                try:
                    tags = client.tags(name)
                except RegistryError as exc:
                    if exc.status == 404 and not params['repository']:
                        continue
                    raise
                entries, created, in_use, children = [], {}, {}, {}
                for tag in tags:
                    details = client.image_details(name, tag)
                    digest = details['digest']
                    created[digest] = details['created']
                    if details['manifest_digests']:
                        children[digest] = details['manifest_digests']
                    entries.append(dict(tag=tag, digest=digest, created=created_key(details['created'])))
                    users = list(in_use_by_digest.get(digest, []))
                    for config_digest in details['config_digests']:
                        users.extend('%s (image ID %s)' % (user, config_digest[:19]) for user in in_use_by_id.get(config_digest, []))
                    if users:
                        in_use[digest] = sorted(set(users))
                deleted, kept = select_prune(entries, params['keep_last'], keep_patterns, params['protected_digests'], in_use,
                                             children)
                for item in deleted + kept:
                    item['repository'] = name
                    item['created'] = created.get(item['digest'])
                plans.append((name, deleted))
                result['deleted'].extend(deleted)
                result['kept'].extend(kept)
            for key in ('deleted', 'kept'):
                for item in result[key]:
                    if key == 'deleted':
                        item.pop('reasons', None)
            result['changed'] = bool(result['deleted'])
            if not module.check_mode:
                done = []
                for name, deleted in plans:
                    for item in deleted:
                        try:
                            client.delete_manifest(name, item['digest'])
                        except RegistryError as exc:
                            result['deleted'] = done
                            result['changed'] = bool(done)
                            module.fail_json(msg=str(exc), **result)
                        done.append(item)
        finally:
            client.close()
    except RegistryError as exc:
        module.fail_json(msg=str(exc), **result)

    if params['garbage_collect']:
        result['garbage_collect'] = dict(ran=False, output='')
        if result['deleted'] and not module.check_mode:
            ok, text = engines.garbage_collect(params['garbage_collect'])
            if not ok:
                module.fail_json(msg=text, **result)
            result['garbage_collect'] = dict(ran=True, output=text)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
