# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Image operations on a Docker engine: build, tag, push, pull, remove, and digest look-ups.

The functions at module level have no side effects (reference parsing, ``.dockerignore``
matching, digest comparisons, the push and pull decisions, error extraction from the JSON
streams of the engine); :class:`ImageEngine` makes the requests. Its methods raise
:class:`ImageError` with a one-line message and never exit the module.

Registry digests are read through the engine's ``/distribution/{name}/json`` endpoint, so the
engine's own TLS trust and insecure-registry settings apply. Credentials come from the Docker
client configuration file (``auths`` of ``config.json``, as written by ``docker login`` or
``hna.cloudos.registry_login``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import stat
import tarfile

from collections import namedtuple

from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import (
    api_error_message,
    connection_error_message,
    one_line,
)

try:
    from docker.errors import APIError, DockerException, NotFound
    from requests.exceptions import RequestException
except ImportError:
    # DockerClient reports the missing Docker SDK; these placeholders only keep the module importable.
    class APIError(Exception):
        pass

    class DockerException(Exception):
        pass

    class NotFound(APIError):
        pass

    class RequestException(Exception):
        pass


DEFAULT_REGISTRY = 'docker.io'
DEFAULT_TAG = 'latest'
#: Keys under which the Docker CLI stores the credentials of Docker Hub.
DOCKER_HUB_AUTH_KEYS = ('https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io')
#: Label holding a hash of the build inputs, used to predict a build in check mode.
CONTEXT_HASH_LABEL = 'io.hna.cloudos.build-context-hash'
#: Lines of build output kept for the result and for error messages.
BUILD_OUTPUT_LINES = 200

_STEP_RE = re.compile(r'^Step \d+/\d+ : ')
_TAG_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')
_DIGEST_RE = re.compile(r'^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$')
_PATH_COMPONENT_RE = re.compile(r'^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$')

Reference = namedtuple('Reference', ['registry', 'path', 'tag', 'digest'])


class ImageError(Exception):
    """A failure of an image operation, with a one-line message for the user."""

    def __init__(self, msg):
        super(ImageError, self).__init__(msg)
        self.msg = msg


# --- references ------------------------------------------------------------------------------


def parse_reference(ref):
    """Split an image reference into a :data:`Reference` ``(registry, path, tag, digest)``.

    The first component is a registry when it contains a ``.`` or a ``:`` or is ``localhost``
    (as the Docker CLI decides); otherwise the registry is ``docker.io``. ``tag`` is ``None``
    when the reference has none (and no digest). Raise ``ValueError`` for a malformed reference.
    """
    text = (ref or '').strip()
    if not text:
        raise ValueError('the image reference is empty')
    digest = None
    if '@' in text:
        text, digest = text.split('@', 1)
        if not _DIGEST_RE.match(digest):
            raise ValueError('%s has the malformed digest %s' % (ref, digest))
    tag = None
    slash = text.rfind('/')
    colon = text.rfind(':')
    if colon > slash:
        text, tag = text[:colon], text[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ValueError('%s has the malformed tag %s' % (ref, tag))
    parts = text.split('/')
    if len(parts) > 1 and ('.' in parts[0] or ':' in parts[0] or parts[0] == 'localhost'):
        registry = parts[0]
        path_parts = parts[1:]
    else:
        registry = DEFAULT_REGISTRY
        path_parts = parts
    for part in path_parts:
        if not _PATH_COMPONENT_RE.match(part):
            raise ValueError('%s is not a valid image reference (repository names use lower-case letters, digits and '
                             'the separators . _ - between path components separated by /)' % ref)
    path = '/'.join(path_parts)
    if registry == DEFAULT_REGISTRY and '/' not in path:
        path = 'library/' + path
    return Reference(registry=registry, path=path, tag=tag, digest=digest)


def repository_name(ref):
    """Return the familiar repository name (without tag or digest) of a reference or :data:`Reference`.

    ``docker.io/library/nginx`` becomes ``nginx`` and ``docker.io/user/app`` becomes ``user/app``,
    as the engine writes them in ``RepoTags`` and ``RepoDigests``.
    """
    parsed = ref if isinstance(ref, Reference) else parse_reference(ref)
    if parsed.registry == DEFAULT_REGISTRY:
        path = parsed.path
        if path.startswith('library/') and path.count('/') == 1:
            path = path[len('library/'):]
        return path
    return '%s/%s' % (parsed.registry, parsed.path)


def tagged_name(ref, default_tag=DEFAULT_TAG):
    """Return ``repository:tag`` in familiar form; a reference without tag gets ``default_tag``."""
    parsed = ref if isinstance(ref, Reference) else parse_reference(ref)
    return '%s:%s' % (repository_name(parsed), parsed.tag or default_tag)


def registry_of(ref):
    """Return the registry host (``host[:port]``) of a reference."""
    return parse_reference(ref).registry


# --- digests and decisions ---------------------------------------------------------------------


def local_digests(image, repository):
    """Return the set of digests ``RepoDigests`` of an inspected ``image`` records for ``repository``."""
    wanted = repository_name(repository)
    found = set()
    for entry in (image or {}).get('RepoDigests') or []:
        name, sep, digest = entry.partition('@')
        if not sep:
            continue
        try:
            if repository_name(name) == wanted:
                found.add(digest)
        except ValueError:
            continue
    return found


def push_needed(image, repository, remote_digest):
    """Tell whether ``image`` must be pushed to ``repository``, whose tag has ``remote_digest`` (``None``: no such tag).

    No push is needed when the registry's manifest for the tag is one the engine has already
    pushed or pulled for this image in that repository (its ``RepoDigests``).
    """
    if image is None:
        return True
    if not remote_digest:
        return True
    return remote_digest not in local_digests(image, repository)


def pull_needed(image, repository, remote_digest, force=False):
    """Tell whether ``repository``'s tag must be pulled: the image is missing locally or its digest differs."""
    if image is None or force:
        return True
    if not remote_digest:
        # The registry has no such tag: a pull would fail; let the caller report it.
        return True
    return remote_digest not in local_digests(image, repository)


def short_id(image_id):
    """Return the first 12 hexadecimal digits of an image ID such as ``sha256:0123...``."""
    return (image_id or '').split(':')[-1][:12]


# --- JSON streams --------------------------------------------------------------------------------


def event_error(event):
    """Return the error message of one decoded event of a build, push or pull stream, or ``None``."""
    if not isinstance(event, dict):
        return None
    detail = event.get('errorDetail')
    if isinstance(detail, dict) and detail.get('message'):
        return one_line(detail['message'])
    if event.get('error'):
        return one_line(event['error'])
    return None


class BuildLog(object):
    """Follow the output of a build: the lines, the current step, the resulting image ID and the error."""

    def __init__(self, keep=BUILD_OUTPUT_LINES):
        self.keep = keep
        self.lines = []
        self.step = None
        self.step_lines = []
        self.image_id = None
        self.error = None
        self._partial = ''

    def feed(self, event):
        """Take one decoded event of the stream."""
        if not isinstance(event, dict):
            return
        error = event_error(event)
        if error:
            self.error = error
            return
        aux = event.get('aux')
        if isinstance(aux, dict) and aux.get('ID'):
            self.image_id = aux['ID']
        text = event.get('stream')
        if not isinstance(text, str):
            return
        text = self._partial + text
        pieces = text.split('\n')
        self._partial = pieces.pop()
        for line in pieces:
            line = line.rstrip('\r')
            if not line.strip():
                continue
            if self.image_id is None and line.startswith('Successfully built '):
                self.image_id = line[len('Successfully built '):].strip()
            if _STEP_RE.match(line):
                self.step = line
                self.step_lines = []
            elif not line.startswith(' ---> ') and not line.startswith('Removing intermediate container '):
                self.step_lines.append(line)
                del self.step_lines[:-5]
            self.lines.append(line)
        if len(self.lines) > self.keep:
            del self.lines[:len(self.lines) - self.keep]

    def finish(self):
        if self._partial.strip():
            self.lines.append(self._partial.rstrip())
            self._partial = ''

    def failure_message(self, what):
        """Return the one-line message of a failed build."""
        step = (' at %s' % self.step) if self.step else ''
        output = (' Output of the step: %s' % ' | '.join(self.step_lines[-3:])) if self.step_lines else ''
        return 'Building %s failed%s: %s.%s' % (what, step, (self.error or 'unknown error').rstrip('.'), output)


def follow_stream(events, on_event=None):
    """Consume a push or pull stream; return ``(last_aux, error)`` (``error`` is ``None`` on success)."""
    aux = {}
    for event in events:
        if on_event is not None:
            on_event(event)
        error = event_error(event)
        if error:
            return aux, error
        if isinstance(event, dict) and isinstance(event.get('aux'), dict):
            aux = event['aux']
    return aux, None


# --- .dockerignore -------------------------------------------------------------------------------


def _clean_path(path):
    """Clean a slash-separated path as Go's ``filepath.Clean`` does, without a leading ``/``."""
    parts = []
    for part in path.replace('\\', '/').split('/'):
        if part in ('', '.'):
            continue
        if part == '..':
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return '/'.join(parts)


def _pattern_regex(pattern):
    """Translate one ``.dockerignore`` pattern (Go ``filepath.Match`` syntax plus ``**``) to a regex."""
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        char = pattern[i]
        if char == '*':
            if i + 1 < n and pattern[i + 1] == '*':
                i += 1
                if i + 1 < n and pattern[i + 1] == '/':
                    i += 1
                    out.append('(?:.*/)?')
                else:
                    out.append('.*')
            else:
                out.append('[^/]*')
        elif char == '?':
            out.append('[^/]')
        elif char == '[':
            end = pattern.find(']', i + 1)
            if end < 0:
                raise ValueError('the .dockerignore pattern %s has an unclosed [' % pattern)
            body = pattern[i + 1:end]
            if body.startswith('^') or body.startswith('!'):
                body = '^' + body[1:]
            out.append('[%s]' % body.replace('\\', '\\\\'))
            i = end
        elif char == '\\' and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile('^%s$' % ''.join(out))


def parse_dockerignore(text):
    """Return the patterns of a ``.dockerignore`` file as a list of ``(regex, exclusion, pattern)``.

    Blank lines and lines starting with ``#`` are skipped; ``!`` starts an exception (a path
    matching it is kept again). Later patterns win over earlier ones.
    """
    patterns = []
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        exception = line.startswith('!')
        if exception:
            line = line[1:].strip()
        cleaned = _clean_path(line)
        if not cleaned:
            continue
        patterns.append((_pattern_regex(cleaned), exception, cleaned))
    return patterns


def is_excluded(path, patterns):
    """Tell whether the context path ``path`` (relative, ``/``-separated) is left out by ``patterns``.

    A pattern matching a parent directory matches everything under it, as in the Docker CLI.
    """
    path = _clean_path(path)
    parents = []
    parts = path.split('/')
    for i in range(1, len(parts)):
        parents.append('/'.join(parts[:i]))
    excluded = False
    for regex, exception, dummy in patterns:
        if excluded != exception:
            # This pattern cannot change the answer.
            continue
        if regex.match(path) or any(regex.match(parent) for parent in parents):
            excluded = not exception
    return excluded


def context_files(root, patterns, always=()):
    """Return the sorted relative paths of the build context under ``root`` (directories included).

    ``always`` lists relative paths kept whatever the patterns say (the Dockerfile and ``.dockerignore``,
    as the Docker CLI sends them anyway).
    """
    has_exceptions = any(exception for dummy, exception, dummy2 in patterns)
    keep = set(_clean_path(p) for p in always)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = '' if rel_dir == '.' else rel_dir.replace(os.sep, '/')
        kept_dirs = []
        for name in sorted(dirnames):
            rel = '%s/%s' % (rel_dir, name) if rel_dir else name
            full = os.path.join(dirpath, name)
            if is_excluded(rel, patterns):
                if not has_exceptions and not any(k.startswith(rel + '/') for k in keep):
                    continue
            else:
                found.append(rel)
            if os.path.islink(full):
                continue
            kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            rel = '%s/%s' % (rel_dir, name) if rel_dir else name
            if rel in keep or not is_excluded(rel, patterns):
                found.append(rel)
    return sorted(found)


def build_context(root, dockerfile='Dockerfile'):
    """Tar the build context ``root`` in memory, honouring its ``.dockerignore``.

    Return ``(fileobj, content_hash)``: an uncompressed tar archive ready for the engine, and a
    SHA-256 of the names, modes and contents of the files it holds (used to predict builds).
    Raise :class:`ImageError` when the context cannot be read.
    """
    if not os.path.isdir(root):
        raise ImageError('The build context %s does not exist or is not a directory.' % root)
    dockerfile_rel = _clean_path(dockerfile)
    if not os.path.isfile(os.path.join(root, dockerfile_rel)):
        raise ImageError('The Dockerfile %s does not exist in the build context %s.' % (dockerfile, root))
    ignore_file = os.path.join(root, '.dockerignore')
    try:
        patterns = []
        if os.path.isfile(ignore_file):
            with open(ignore_file, 'rb') as handle:
                patterns = parse_dockerignore(to_native(handle.read(), errors='surrogate_or_strict'))
        files = context_files(root, patterns, always=(dockerfile_rel, '.dockerignore'))
        digest = hashlib.sha256()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as archive:
            for rel in files:
                full = os.path.join(root, rel.replace('/', os.sep))
                info = archive.gettarinfo(full, arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ''
                digest.update(to_bytes('%s\0%o\0%s\0' % (rel, stat.S_IMODE(info.mode), info.type.decode('ascii'))))
                if info.isreg():
                    with open(full, 'rb') as handle:
                        data = handle.read()
                    digest.update(hashlib.sha256(data).digest())
                    archive.addfile(info, io.BytesIO(data))
                else:
                    if info.issym():
                        digest.update(to_bytes(info.linkname))
                    archive.addfile(info)
    except (OSError, ValueError) as exc:
        raise ImageError('Cannot read the build context %s: %s' % (root, one_line(exc)))
    buf.seek(0)
    return buf, digest.hexdigest()


def build_inputs_hash(context_hash, dockerfile, args, target, labels):
    """Return a hash of everything that decides a build besides the base images."""
    data = json.dumps(dict(context=context_hash, dockerfile=dockerfile, args=args or {}, target=target or '',
                           labels=labels or {}), sort_keys=True)
    return hashlib.sha256(to_bytes(data)).hexdigest()


# --- credentials ---------------------------------------------------------------------------------


def default_config_path(environ=None):
    """Return the Docker client configuration file: ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``."""
    environ = os.environ if environ is None else environ
    directory = environ.get('DOCKER_CONFIG') or os.path.join(os.path.expanduser('~'), '.docker')
    return os.path.join(directory, 'config.json')


def _auth_key(key):
    """Normalise a key of ``auths`` (``https://host:port/v2/`` or ``host:port``) to ``host:port``."""
    text = key.strip()
    for scheme in ('https://', 'http://'):
        if text.lower().startswith(scheme):
            text = text[len(scheme):]
    return text.split('/', 1)[0].lower()


def find_auth(config, registry):
    """Return ``{'username', 'password', 'serveraddress'}`` for ``registry`` from a parsed ``config.json``, or ``None``.

    Entries with an ``auth`` field (base64 of ``user:password``) or ``username``/``password`` are used;
    identity tokens are passed on as ``identitytoken``.
    """
    auths = (config or {}).get('auths') or {}
    wanted = registry.lower()
    candidates = DOCKER_HUB_AUTH_KEYS if wanted == DEFAULT_REGISTRY else (wanted, )
    for key, entry in auths.items():
        if not isinstance(entry, dict) or _auth_key(key) not in candidates:
            continue
        result = dict(serveraddress=registry)
        if entry.get('auth'):
            try:
                decoded = to_native(base64.b64decode(entry['auth']))
            except (ValueError, TypeError):
                raise ImageError('The credentials of %s in the Docker client configuration are not valid base64.' % registry)
            username, sep, password = decoded.partition(':')
            if not sep:
                raise ImageError('The credentials of %s in the Docker client configuration are not of the form user:password.'
                                 % registry)
            result.update(username=username, password=password)
        elif entry.get('username'):
            result.update(username=entry['username'], password=entry.get('password') or '')
        if entry.get('identitytoken'):
            result['identitytoken'] = entry['identitytoken']
        if len(result) > 1:
            return result
    return None


def load_auth(config_path, registry):
    """Read the credentials of ``registry`` from the configuration file ``config_path``.

    Return ``None`` when the file does not exist or has no entry for the registry.
    """
    if not config_path or not os.path.exists(config_path):
        return None
    try:
        with open(config_path, 'rb') as handle:
            config = json.loads(to_native(handle.read()))
    except (OSError, ValueError) as exc:
        raise ImageError('Cannot read the Docker client configuration %s: %s' % (config_path, one_line(exc)))
    if not isinstance(config, dict):
        raise ImageError('The Docker client configuration %s is not a JSON object.' % config_path)
    return find_auth(config, registry)


def auth_for(ref, config_path=None):
    """Return the credentials for the registry of the image ``ref`` (``None`` when there are none).

    ``config_path`` defaults to :func:`default_config_path`. Shared by every module that pulls or pushes
    (``image``, and the container engine of ``container`` and ``stack``), so that all of them use what
    ``hna.cloudos.registry_login`` or ``docker login`` stored. Raise :class:`ImageError` for a broken file.
    """
    return load_auth(config_path or default_config_path(), registry_of(ref))


def registry_auth_hint(message, ref, auth, config_path):
    """Complete ``message`` (an error of the registry of ``ref``) with what to do when it is about credentials.

    ``auth`` is what was sent (``None`` for nothing), ``config_path`` where the credentials were looked for.
    """
    lowered = message.lower()
    if 'no basic auth credentials' in lowered or 'unauthorized' in lowered or 'authentication required' in lowered:
        registry = registry_of(ref)
        if auth is None:
            return ('%s. No credentials for %s were found in %s: log in first (hna.cloudos.registry_login or '
                    'docker login).' % (message.rstrip('.'), registry, config_path))
        return ('%s. The credentials for %s in %s were refused: log in again.' % (
            message.rstrip('.'), registry, config_path))
    return message


# --- the engine ----------------------------------------------------------------------------------


def image_facts(image):
    """Return the documented ``image`` result of an inspected image (``{}`` for none)."""
    if not image:
        return {}
    return dict(
        id=image.get('Id'),
        tags=list(image.get('RepoTags') or []),
        repo_digests=list(image.get('RepoDigests') or []),
        size=image.get('Size'),
        created=image.get('Created'),
        labels=dict((image.get('Config') or {}).get('Labels') or {}),
    )


class ImageEngine(object):
    """Image requests to one Docker engine.

    :param client: the module's ``DockerClient`` (for ``api`` and ``docker_host``).
    :param config_path: Docker client configuration file holding the registry credentials.
    """

    def __init__(self, client, config_path=None, api=None):
        self.api = api if api is not None else client.api
        self.docker_host = getattr(client, 'docker_host', None)
        self.config_path = config_path
        self._auth_cache = {}

    def _error(self, what, exc):
        if isinstance(exc, APIError):
            return ImageError(api_error_message(self.docker_host, what, exc))
        if isinstance(exc, RequestException):
            return ImageError(connection_error_message(self.docker_host, exc))
        return ImageError('The Docker engine at %s could not %s: %s' % (self.docker_host, what, one_line(exc)))

    def auth(self, ref):
        """Return the credentials for the registry of ``ref`` (``None`` when there are none)."""
        registry = registry_of(ref)
        if registry not in self._auth_cache:
            self._auth_cache[registry] = load_auth(self.config_path, registry)
        return self._auth_cache[registry]

    def inspect(self, ref):
        """Return the inspected local image ``ref``, or ``None`` when the engine does not have it."""
        what = 'inspect the image %s' % ref
        try:
            return self.api.inspect_image(ref)
        except NotFound:
            return None
        except (DockerException, RequestException, ValueError) as exc:
            raise self._error(what, exc)

    def remote_digest(self, ref):
        """Return the registry's manifest digest of ``ref`` (``repository:tag``), or ``None`` when the tag does not exist.

        Asked through the engine (``/distribution/{name}/json``), with the credentials of the configuration file.
        """
        what = 'read the manifest of %s from its registry' % ref
        try:
            answer = self.api.inspect_distribution(ref, auth_config=self.auth(ref))
        except NotFound as exc:
            text = one_line(getattr(exc, 'explanation', None) or exc).lower()
            if 'manifest unknown' in text or 'not found' in text or 'name unknown' in text:
                return None
            raise self._error(what, exc)
        except APIError as exc:
            raise ImageError(self._registry_hint(api_error_message(self.docker_host, what, exc), ref))
        except (DockerException, RequestException, ValueError) as exc:
            raise self._error(what, exc)
        descriptor = (answer or {}).get('Descriptor') or {}
        return descriptor.get('digest')

    def _registry_hint(self, message, ref):
        return registry_auth_hint(message, ref, self.auth(ref), self.config_path)

    def build(self, path, tag, dockerfile='Dockerfile', args=None, target=None, labels=None, pull=False, nocache=False,
              context=None):
        """Build the context ``path`` and tag the result ``tag``. Return ``(image_id, output_lines)``.

        ``context`` is the tar archive from :func:`build_context` (made here when not given).
        """
        if context is None:
            context, dummy = build_context(path, dockerfile)
        log = BuildLog()
        what = 'build %s from %s' % (tag, path)
        try:
            stream = self.api.build(fileobj=context, custom_context=True, tag=tag, dockerfile=dockerfile,
                                    buildargs=dict((k, str(v)) for k, v in (args or {}).items()) or None,
                                    target=target or None, labels=labels or None, pull=bool(pull), nocache=bool(nocache),
                                    rm=True, forcerm=True, decode=True)
            for event in stream:
                log.feed(event)
                if log.error:
                    break
        except (DockerException, RequestException, ValueError) as exc:
            raise self._error(what, exc)
        log.finish()
        if log.error:
            raise ImageError(log.failure_message('%s from %s' % (tag, path)))
        image = self.inspect(tag)
        if image is None:
            raise ImageError('Building %s from %s ended without an image (no error was reported).' % (tag, path))
        return image, log.lines

    def tag(self, source, target):
        """Tag the image ``source`` as ``target`` (``repository:tag``)."""
        parsed = parse_reference(target)
        repository = target[:target.rfind(':')] if parsed.tag else target
        what = 'tag %s as %s' % (source, target)
        try:
            self.api.tag(source, repository, tag=parsed.tag or DEFAULT_TAG, force=True)
        except (DockerException, RequestException, ValueError) as exc:
            raise self._error(what, exc)

    def _stream(self, what, ref, method, repository, tag):
        try:
            events = method(repository, tag=tag, stream=True, decode=True, auth_config=self.auth(ref))
            aux, error = follow_stream(events)
        except APIError as exc:
            raise ImageError(self._registry_hint(api_error_message(self.docker_host, what, exc), ref))
        except (DockerException, RequestException, ValueError) as exc:
            raise self._error(what, exc)
        if error:
            raise ImageError(self._registry_hint('The Docker engine at %s could not %s: %s' % (self.docker_host, what, error), ref))
        return aux

    def push(self, ref):
        """Push ``ref`` (``repository:tag``); return the digest the registry stored."""
        parsed = parse_reference(ref)
        repository = ref[:ref.rfind(':')] if parsed.tag else ref
        aux = self._stream('push %s' % ref, ref, self.api.push, repository, parsed.tag or DEFAULT_TAG)
        return aux.get('Digest')

    def pull(self, ref):
        """Pull ``ref`` (``repository:tag``)."""
        parsed = parse_reference(ref)
        repository = ref[:ref.rfind(':')] if parsed.tag else ref
        self._stream('pull %s' % ref, ref, self.api.pull, repository, parsed.tag or DEFAULT_TAG)

    def remove(self, ref):
        """Remove the tag ``ref``; the image goes when no other tag refers to it and no container uses it."""
        what = 'remove the image %s' % ref
        try:
            self.api.remove_image(ref, force=False, noprune=False)
        except NotFound:
            return
        except (DockerException, RequestException, ValueError) as exc:
            raise self._error(what, exc)
