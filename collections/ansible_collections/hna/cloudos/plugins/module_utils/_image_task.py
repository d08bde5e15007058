# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of the ``hna.cloudos.image`` module: get (build, pull or find), tag, push or remove one image.

The module file holds the documentation and calls :func:`run_image`; :class:`ImageTask` decides and
acts on top of the engine requests of ``_docker_image``. Build arguments are secrets: their values
reach the engine's build but never what the module returns (results, ``invocation``, build output,
error messages), but for the names in ``build_args_visible`` (see ``_redact``).
"""

from __future__ import annotations

import concurrent.futures

from ansible_collections.hna.cloudos.plugins.module_utils._docker_image import (
    CONTEXT_HASH_LABEL,
    ImageEngine,
    ImageError,
    build_context,
    build_inputs_hash,
    default_config_path,
    image_facts,
    local_digests,
    parse_reference,
    pull_needed,
    push_needed,
    repository_name,
    tagged_name,
)
from ansible_collections.hna.cloudos.plugins.module_utils._redact import hide_values, keep_output_unmasked, redacted_params

IMAGE_MODULE_KWARGS = dict(
    supports_check_mode=True,
    required_if=[('source', 'build', ['build'])],
)


def image_argument_spec():
    """Return the options of the image module (a fresh dictionary each call)."""
    return dict(
        name=dict(type='str', required=True),
        source=dict(type='str', default='local', choices=['local', 'build', 'pull']),
        build=dict(type='dict', options=dict(
            path=dict(type='path', required=True),
            dockerfile=dict(type='str', default='Dockerfile'),
            # Never logged by Ansible; the module redacts the values itself in what it returns (see _redact).
            args=dict(type='dict', no_log=True),
            target=dict(type='str'),
            labels=dict(type='dict'),
            pull=dict(type='bool', default=False),
            nocache=dict(type='bool', default=False),
        )),
        build_args_visible=dict(type='list', elements='str', default=[]),
        force_source=dict(type='bool', default=False),
        repository=dict(type='str'),
        tag=dict(type='str', default='latest'),
        push=dict(type='bool', default=False),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        config_path=dict(type='path'),
    )


def build_args(params):
    """Return the build arguments of the module parameters, as strings."""
    return dict((k, str(v)) for k, v in ((params.get('build') or {}).get('args') or {}).items())


def hidden_build_arg_values(params):
    """Return the values of the build arguments that must not be shown (all but those named in ``build_args_visible``)."""
    visible = params.get('build_args_visible') or []
    return [value for key, value in build_args(params).items() if key not in visible and value]


def _labels(image):
    return ((image or {}).get('Config') or {}).get('Labels') or {}


def _id(image):
    return (image or {}).get('Id')


class ImageTask(object):
    """One run of the module: decide, and (outside check mode) act."""

    def __init__(self, client, engine):
        self.client = client
        self.engine = engine
        self.params = client.params
        self.check_mode = client.check_mode
        self.actions = []
        #: The image the task tagged, pulled, pushed or removed (set by :meth:`run` once the references are checked).
        self.reference = None
        self.digest = None
        self.build_output = []
        self.diff = dict(before={}, after={})
        # The values of the build arguments are hidden from everything returned, and the invocation shows only their names.
        self.hidden = hidden_build_arg_values(self.params)
        self.invocation = dict(module_args=redacted_params(self.params, ('build.args', ), self.params.get('build_args_visible') or []))

    def references(self):
        params = self.params
        try:
            parsed = parse_reference(params['name'])
            if parsed.digest and params['source'] == 'build':
                raise ValueError('a built image cannot be named by digest')
            source = params['name'] if parsed.digest else tagged_name(parsed)
            target = None
            if params['repository']:
                repo = parse_reference(params['repository'])
                if repo.tag or repo.digest:
                    raise ValueError('repository %s must not contain a tag or digest; use the tag option'
                                     % params['repository'])
                target = tagged_name(repo._replace(tag=params['tag']))
                parse_reference(target)
        except ValueError as exc:
            self.client.fail('Invalid image reference: %s.' % exc, **self.results({}))
        return source, target

    def results(self, image):
        return dict(changed=bool(self.actions), actions=self.actions, image=image_facts(image), digest=self.digest,
                    build_output=[hide_values(line, self.hidden) for line in self.build_output], invocation=self.invocation)

    def run(self):
        source, target = self.references()
        self.reference = target or source
        if self.params['state'] == 'absent':
            return self.absent(target or source)
        final_ref = target or source
        before_final = self.engine.inspect(final_ref)
        self.diff['before'] = dict(id=_id(before_final))

        image, source_changed = self.get_source(source)
        if target:
            target_image = before_final
            if source_changed or target_image is None or _id(target_image) != _id(image):
                self.actions.append('tagged')
                if not self.check_mode:
                    self.engine.tag(source, target)
        if self.params['push']:
            self.push(final_ref, source_changed or 'tagged' in self.actions)
        image_changed = source_changed or 'tagged' in self.actions
        if self.check_mode:
            final = before_final
            if not image_changed:
                after_id = _id(before_final)
            elif image is not None and not source_changed:
                after_id = _id(image)
            else:
                after_id = '(new image)'
        else:
            final = self.engine.inspect(final_ref)
            after_id = _id(final)
        self.diff['after'] = dict(id=after_id)
        if self.digest is not None:
            self.diff['after']['digest'] = self.digest
        return final

    def get_source(self, source):
        """Make sure the source image is there. Return ``(image, changed)``; ``image`` may be ``None`` in check mode."""
        mode = self.params['source']
        before = self.engine.inspect(source)
        if mode == 'local':
            if before is None:
                raise ImageError('The image %s is not on the Docker engine at %s: build or pull it first (source: build or '
                                 'source: pull).' % (source, self.client.docker_host))
            return before, False
        if mode == 'build':
            return self.build(source, before)
        return self.pull(source, before)

    def build(self, source, before):
        options = self.params['build'] or {}
        context, context_hash = build_context(options['path'], options['dockerfile'])
        args = dict((k, str(v)) for k, v in (options.get('args') or {}).items())
        labels = dict((k, str(v)) for k, v in (options.get('labels') or {}).items())
        inputs = build_inputs_hash(context_hash, options['dockerfile'], args, options.get('target'), labels)
        labels[CONTEXT_HASH_LABEL] = inputs
        if self.check_mode:
            changed = before is None or _labels(before).get(CONTEXT_HASH_LABEL) != inputs or bool(options['nocache'])
            if changed:
                self.actions.append('built')
            return before, changed
        image, self.build_output = self.engine.build(options['path'], source, dockerfile=options['dockerfile'], args=args,
                                                     target=options.get('target'), labels=labels, pull=options['pull'],
                                                     nocache=options['nocache'], context=context)
        changed = before is None or _id(before) != _id(image)
        if changed:
            self.actions.append('built')
        return image, changed

    def pull(self, source, before):
        remote = self.engine.remote_digest(source)
        if remote is None:
            raise ImageError('The registry of %s has no such image (manifest unknown): check the name and tag, and that it '
                             'was pushed.' % source)
        self.digest = remote
        known = sorted(local_digests(before, source))
        self.diff['before']['digest'] = remote if remote in known else (known[0] if known else None)
        if not pull_needed(before, source, remote, force=self.params['force_source']):
            return before, False
        if self.check_mode:
            self.actions.append('pulled')
            return before, True
        self.engine.pull(source)
        image = self.engine.inspect(source)
        changed = before is None or _id(before) != _id(image) or local_digests(before, source) != local_digests(image, source)
        if changed:
            self.actions.append('pulled')
        return image, changed

    def push(self, ref, image_changed):
        remote = self.engine.remote_digest(ref)
        self.diff['before']['digest'] = remote
        image = None if self.check_mode and image_changed else self.engine.inspect(ref)
        if image is None and not (self.check_mode and image_changed):
            raise ImageError('The image %s is not on the Docker engine at %s, so it cannot be pushed.' % (
                ref, self.client.docker_host))
        self.digest = remote
        if not push_needed(image, repository_name(parse_reference(ref)), remote):
            return
        self.actions.append('pushed')
        if self.check_mode:
            return
        pushed = self.engine.push(ref)
        self.digest = pushed or self.engine.remote_digest(ref)

    def absent(self, ref):
        image = self.engine.inspect(ref)
        if image is None:
            return None
        self.diff = dict(before=dict(id=_id(image)), after={})
        # A reference given as an image ID or digest removes what it names; a tag only removes the tag.
        self.actions.append('removed')
        if not self.check_mode:
            self.engine.remove(ref)
            return None
        return image


def run_image(client):
    """Run the image module with ``client`` (a ``DockerClient`` built from :func:`image_argument_spec`); exit the module."""
    params = client.params
    keep_output_unmasked(client.module, ['build.args'])
    engine = ImageEngine(client, config_path=params['config_path'] or default_config_path())
    task = ImageTask(client, engine)
    try:
        image = task.run()
    except ImageError as exc:
        partial = task.results({})
        if client.check_mode:
            # Nothing was changed, and what would have been cannot be told after the failure.
            partial['changed'] = False
        client.fail(hide_values(exc.msg, task.hidden), **partial)
    results = task.results(image)
    if client.module._diff:
        results['diff'] = task.diff
    client.close()
    client.module.exit_json(**results)


# -- hna.cloudos.images: many images in one task --------------------------------------------------------------------

IMAGES_MODULE_KWARGS = dict(supports_check_mode=True)


def images_argument_spec():
    """Return the options of the images module (a fresh dictionary each call)."""
    return dict(
        images=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            repository=dict(type='str'),
            tag=dict(type='str', default='latest'),
        )),
        source=dict(type='str', default='local', choices=['local', 'pull']),
        force_source=dict(type='bool', default=False),
        push=dict(type='bool', default=False),
        config_path=dict(type='path'),
        parallel=dict(type='int', default=4),
    )


class _ItemError(Exception):
    """A failure of one image of the list (raised where the single-image task would fail the module)."""


class _ItemClient(object):
    """What :class:`ImageTask` needs of its client, for one image of the list: its own parameters, shared connection."""

    def __init__(self, client, params):
        self.params = params
        self.check_mode = client.check_mode
        self.docker_host = client.docker_host
        self.module = client.module

    def fail(self, msg, **partial_results):
        raise _ItemError(msg)


def item_params(params, item):
    """Return the parameters of the single-image task for ``item`` of the images module's list."""
    return dict(name=item['name'], source=params['source'], build=None, build_args_visible=[],
                force_source=params['force_source'], repository=item.get('repository'), tag=item.get('tag') or 'latest',
                push=params['push'], state='present', config_path=params['config_path'])


def duplicate_targets(params):
    """Return the references that more than one item of the list would tag, pull or push (each may appear once)."""
    seen, twice = set(), []
    for item in params['images']:
        ref = '%s:%s' % (item['repository'], item.get('tag') or 'latest') if item.get('repository') else item['name']
        if ref in seen and ref not in twice:
            twice.append(ref)
        seen.add(ref)
    return twice


def run_images(client):
    """Run the images module with ``client`` (a ``DockerClient`` built from :func:`images_argument_spec`); exit the module.

    One engine connection and one registry login are shared by every image; each image is handled as the image module
    handles one (same comparison by digest, same actions). Every image is tried; the task fails after the last one
    when any failed, naming each failure, and returns what was done for the others.
    """
    params = client.params
    twice = duplicate_targets(params)
    if twice:
        client.fail('images: %s given more than once in the list; give each target once.' % ', '.join(twice))
    if params['parallel'] < 1:
        client.fail('parallel must be at least 1 (images handled at the same time), not %d.' % params['parallel'])
    engine = ImageEngine(client, config_path=params['config_path'] or default_config_path())

    def handle(item):
        task = ImageTask(_ItemClient(client, item_params(params, item)), engine)
        result = dict(name=item['name'], reference=None, actions=[], digest=None, id=None, changed=False)
        try:
            image = task.run()
        except (ImageError, _ItemError) as exc:
            result.update(reference=task.reference, actions=task.actions, digest=task.digest, failed=True,
                          changed=bool(task.actions) and not client.check_mode)
            return result, None, '%s: %s' % (item['name'], getattr(exc, 'msg', None) or str(exc))
        result.update(reference=task.reference, actions=task.actions, digest=task.digest, id=_id(image),
                      changed=bool(task.actions))
        diff = None
        if task.actions:
            diff = dict(before_header=result['reference'], after_header=result['reference'],
                        before=task.diff['before'], after=task.diff['after'])
        return result, diff, None

    # Most of the time of a rerun is the registry's answer about each digest (asked through the engine): the images
    # are handled a few at a time. The results keep the order of the list.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(params['parallel'], len(params['images']) or 1)) as pool:
        outcomes = list(pool.map(handle, params['images']))
    results = [outcome[0] for outcome in outcomes]
    diffs = [outcome[1] for outcome in outcomes if outcome[1] is not None]
    failures = [outcome[2] for outcome in outcomes if outcome[2] is not None]
    client.close()
    changed = any(r['changed'] for r in results)
    summary = dict(changed=changed, images=results,
                   counts=dict(total=len(results), changed=sum(1 for r in results if r['changed']), failed=len(failures)))
    if client.module._diff:
        summary['diff'] = diffs
    if failures:
        client.module.fail_json(msg='%d of %d images failed: %s' % (len(failures), len(results), '; '.join(failures)),
                                **summary)
    client.module.exit_json(**summary)
