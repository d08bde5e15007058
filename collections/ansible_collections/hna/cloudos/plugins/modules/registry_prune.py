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
  - The Docker engines of O(in_use_hosts) and O(garbage_collect.docker_host) must be Docker Engine 20.10 (API version
    1.41) or newer; the module uses the newest API version each engine speaks.
  - This module is in the C(hna.cloudos.registry) action group, not in C(hna.cloudos.docker), and does not take the common
    Docker connection options (C(docker_host), C(tls), ...) of the Docker modules, because its O(validate_certs),
    O(ca_path) and O(timeout) are those of the registry, and it may talk to several Docker engines, each named by its
    address.
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
import os

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
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    MIN_DOCKER_API_VERSION,
    DockerClient,
    DockerClientError,
    parse_docker_host,
)

try:
    from docker.errors import NotFound
except ImportError:
    pass  # EngineClient reports the missing Docker SDK (HAS_DOCKER) before anything uses it


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


class EngineClient(DockerClient):
    """A :class:`DockerClient` to one of the Docker engines named in this module's options.

    ``DockerClient()`` builds the module's ``AnsibleModule`` from the common Docker connection options
    and connects to the one engine of ``docker_host``. This module has the registry connection options
    instead (``validate_certs``, ``ca_path`` and ``timeout`` mean the registry's) and may talk to several
    engines, so this constructor takes the ``AnsibleModule`` and one engine address and reuses the
    connection, TLS, API version negotiation and error reporting of ``DockerClient``.

    TLS is used for ``https://`` addresses only, with ``docker_ca_path`` (the engine certificate is
    checked only when it is given), ``docker_client_cert`` and ``docker_client_key``.
    Every failure names ``option`` and returns ``partial_results`` (what the module did so far).
    """

    # pylint: disable-next=super-init-not-called
    def __init__(self, module, address, option, partial_results=None):
        self.module = module
        self.option = option
        self.partial_results = dict(partial_results or {})
        self.check_mode = module.check_mode
        self.api = None
        self.server_version = {}
        self.api_version = None
        self.docker_host = address
        self.min_api_version = MIN_DOCKER_API_VERSION
        if not HAS_DOCKER:
            self.fail(missing_required_lib('docker') + ' (needed for in_use_hosts and garbage_collect)', exception=DOCKER_IMPORT_ERROR)
        try:
            host = parse_docker_host(address)
        except DockerClientError as exc:
            self.fail(str(exc))
        options = module.params
        self.tls = host.scheme == 'https'
        self.cert_paths = dict(ca_path=None, client_cert=None, client_key=None)
        if self.tls:
            for name, option_name in (('ca_path', 'docker_ca_path'), ('client_cert', 'docker_client_cert'),
                                      ('client_key', 'docker_client_key')):
                path = options[option_name]
                if path and not os.path.isfile(path):
                    self.fail('%s %s does not exist or is not a file (needed for TLS to the Docker engine at %s).' % (
                        option_name, path, address))
                self.cert_paths[name] = path
        self.params = dict(docker_host=address, tls=self.tls, validate_certs=bool(self.cert_paths['ca_path']),
                           ca_path=self.cert_paths['ca_path'], client_cert=self.cert_paths['client_cert'],
                           client_key=self.cert_paths['client_key'], timeout=options['timeout'], api_version='auto')
        self._connect(host, None)

    def fail(self, msg, **partial_results):
        """Fail the module with a one-line ``msg`` that starts with the option naming this engine."""
        results = dict(self.partial_results)
        results.update(partial_results)
        super(EngineClient, self).fail('%s: %s' % (self.option, msg), **results)


class Engines(object):
    """The Docker engines the module talks to (in_use_hosts and the garbage collector)."""

    def __init__(self, module):
        self.module = module

    def in_use(self, address):
        """Return ``(by_repo_digest, by_image_id)``: dicts mapping a digest to descriptions of the containers using it."""
        client = EngineClient(self.module, address, 'in_use_hosts')
        by_digest, by_id = {}, {}
        try:
            with client.api_errors('list its containers and their images'):
                containers = client.api.containers(all=True)
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
                                images[image_id] = client.api.inspect_image(image_id).get('RepoDigests') or []
                            except NotFound:
                                images[image_id] = []
                        for repo_digest in images[image_id]:
                            by_digest.setdefault(repo_digest.rsplit('@', 1)[-1], []).append(user)
        finally:
            client.close()
        return by_digest, by_id

    def garbage_collect(self, settings, result):
        """Run the garbage collector; return ``(ok, text)``. Connection and API failures fail the module with ``result``."""
        address = settings['docker_host']
        client = EngineClient(self.module, address, 'garbage_collect.docker_host', result)
        command = ['registry', 'garbage-collect']
        if settings['delete_untagged']:
            command.append('--delete-untagged')
        command.append(settings['config'])
        try:
            with client.api_errors('run the garbage collector in container %s' % settings['container']):
                exec_id = client.api.exec_create(settings['container'], command, stdout=True, stderr=True)
                output = client.api.exec_start(exec_id)
                exit_code = client.api.exec_inspect(exec_id).get('ExitCode')
        finally:
            client.close()
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
        required_together=[('username', 'password'), ('docker_client_cert', 'docker_client_key')],
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
            ok, text = engines.garbage_collect(params['garbage_collect'], result)
            if not ok:
                module.fail_json(msg=text, **result)
            result['garbage_collect'] = dict(ran=True, output=text)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
