# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small client for the Docker Registry HTTP API v2 (CNCF Distribution), shared by the ``registry_*`` modules.

:class:`RegistryClient` talks to one registry over ``requests``: TLS verification, basic
authentication and the bearer token flow, ``Link`` pagination for the catalog and tag lists,
manifests (Docker schema 2, manifest lists, OCI manifests and indexes) and deletion by digest.
Every problem is raised as :class:`RegistryError` with a one-line message that never contains
the password or a token.

The functions at module level (address parsing, ``WWW-Authenticate`` and ``Link`` parsing,
the prune selection) have no side effects and are unit tested on their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import ssl
import traceback

from collections import namedtuple
from urllib.parse import urljoin, urlsplit

from ansible.module_utils.common.text.converters import to_native, to_text

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    from requests.exceptions import RequestException, SSLError
except ImportError:
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    HAS_REQUESTS = False
else:
    HAS_REQUESTS = True

DEFAULT_TIMEOUT = 30

#: Docker Hub: the Docker CLI stores its credentials under this key of ``auths``.
DOCKER_HUB_HOSTS = ('docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com')
DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/'
DOCKER_HUB_API_HOST = 'registry-1.docker.io'

MEDIA_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
MEDIA_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
MEDIA_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
MEDIA_OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
#: Media types of an image manifest (one platform) and of an index (several platforms).
IMAGE_MANIFEST_TYPES = (MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST)
INDEX_TYPES = (MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX)
MANIFEST_ACCEPT = ', '.join(IMAGE_MANIFEST_TYPES + INDEX_TYPES)

TRUST_HINT = ("give ca_path (the CA certificate that signed it), or add the CA to the Docker host with the "
              "docker_host role's docker_host_registry_ca_certs")

RegistryAddress = namedtuple('RegistryAddress', ['base_url', 'host', 'config_key'])

_DIGEST_RE = re.compile(r'^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$')
_REPOSITORY_RE = re.compile(r'^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$')
_TAG_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')
_AUTH_PARAM_RE = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


def registry_common_argument_spec():
    """The connection options of every module that talks to a registry, as a fresh dict.

    Documented once in the ``hna.cloudos.registry`` doc fragment; a module adds its own options
    (and may override a default, as ``registry_prune`` does for ``timeout``).
    """
    return dict(
        registry_url=dict(type='str', required=True),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        config_path=dict(type='path'),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        timeout=dict(type='int', default=30),
    )


class RegistryError(Exception):
    """A problem with a registry, with a one-line message meant for the user.

    ``status`` is the HTTP status of the answer when there was one.
    """

    def __init__(self, message, status=None):
        super(RegistryError, self).__init__(message)
        self.status = status


def one_line(text):
    """Collapse any whitespace (newlines included) so that ``text`` fits on one line."""
    return ' '.join(to_native(text).split())


def parse_registry_url(value):
    """Check a ``registry_url`` and return it as a :data:`RegistryAddress`.

    ``value`` is ``HOST[:PORT]`` (HTTPS is used) or ``https://HOST[:PORT]`` or ``http://HOST[:PORT]``
    (plain HTTP, for registries without TLS); a trailing ``/`` or ``/v2/`` is accepted.
    ``config_key`` is the key the Docker CLI uses for the registry in the ``auths`` of its
    ``config.json``: ``HOST[:PORT]``, or ``https://index.docker.io/v1/`` for Docker Hub.
    Raise :class:`RegistryError` when the value cannot be used.
    """
    text = (value or '').strip()
    hint = 'Use HOST:PORT or https://HOST:PORT, for example registry.example.com:5000.'
    if not text:
        raise RegistryError('registry_url is empty. %s' % hint)
    if '://' in text:
        scheme = text.split('://', 1)[0].lower()
        if scheme not in ('http', 'https'):
            raise RegistryError('registry_url %s uses the unsupported scheme %s:// (only https:// and http://). %s' % (text, scheme, hint))
    else:
        scheme = 'https'
        text = 'https://' + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise RegistryError('registry_url %s is not a valid address (%s). %s' % (value, exc, hint))
    host = parts.hostname
    if not host:
        raise RegistryError('registry_url %s names no host. %s' % (value, hint))
    if parts.username is not None or parts.password is not None:
        raise RegistryError('registry_url %s must not contain credentials: use username and password. %s' % (
            urlsplit(text)._replace(netloc=parts.hostname).geturl(), hint))
    if parts.path.rstrip('/') not in ('', '/v2', '/v1') or parts.query or parts.fragment:
        raise RegistryError('registry_url %s must not contain a path (other than /v2/). %s' % (value, hint))
    url_host = '[%s]' % host if ':' in host else host
    netloc = '%s:%d' % (url_host, port) if port else url_host
    if host.lower() in DOCKER_HUB_HOSTS and not port:
        return RegistryAddress(base_url='https://%s' % DOCKER_HUB_API_HOST, host=DOCKER_HUB_API_HOST,
                               config_key=DOCKER_HUB_CONFIG_KEY)
    return RegistryAddress(base_url='%s://%s' % (scheme, netloc), host=netloc, config_key=netloc)


def parse_www_authenticate(header):
    """Parse a ``WWW-Authenticate`` header into ``(scheme, params)``.

    ``scheme`` is lower case (``'basic'``, ``'bearer'``); ``params`` maps the lower-case parameter
    names to their (unquoted) values. Return ``(None, {})`` for an empty header.
    """
    text = (header or '').strip()
    if not text:
        return None, {}
    scheme, _sep, rest = text.partition(' ')
    params = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _AUTH_PARAM_RE.match(rest, position)
        if not match or match.end() == position:
            break
        name, raw = match.group(1), match.group(2)
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r'\\(.)', r'\1', raw[1:-1])
        params[name.lower()] = raw
        position = match.end()
    return scheme.lower(), params


def parse_link_next(header, base_url):
    """Return the absolute URL of the ``rel="next"`` entry of a ``Link`` header, or ``None``."""
    for entry in (header or '').split(','):
        match = re.match(r'\s*<([^>]*)>\s*(.*)$', entry)
        if not match:
            continue
        params = match.group(2)
        if re.search(r';\s*rel\s*=\s*"?next"?', params, re.IGNORECASE):
            return urljoin(base_url, match.group(1))
    return None


def encode_auth(username, password):
    """Return the ``auth`` value of a Docker ``config.json`` entry (base64 of ``user:password``)."""
    return to_text(base64.b64encode(('%s:%s' % (username, password)).encode('utf-8')))


def decode_auth(value):
    """Return ``(username, password)`` from an ``auth`` value, or ``(None, None)`` if it is not one."""
    try:
        decoded = to_text(base64.b64decode(value or '', validate=True), errors='strict')
    except (ValueError, TypeError, UnicodeDecodeError):
        return None, None
    if ':' not in decoded:
        return None, None
    username, password = decoded.split(':', 1)
    return username, password


def default_config_path(environ=None):
    """Return the Docker CLI's ``config.json`` path: ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``."""
    environ = os.environ if environ is None else environ
    directory = environ.get('DOCKER_CONFIG') or os.path.join(os.path.expanduser('~'), '.docker')
    return os.path.join(directory, 'config.json')


def read_config_credentials(config, address):
    """Return ``(username, password)`` stored for ``address`` in a loaded ``config.json``, or ``(None, None)``."""
    auths = config.get('auths') if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None, None
    candidates = [address.config_key, 'https://' + address.config_key, 'http://' + address.config_key,
                  'https://%s/v1/' % address.config_key, 'https://%s/v2/' % address.config_key]
    for key in candidates:
        entry = auths.get(key)
        if isinstance(entry, dict):
            if entry.get('auth'):
                return decode_auth(entry['auth'])
            if entry.get('username') and entry.get('password'):
                return entry['username'], entry['password']
    return None, None


def load_credentials(params, address, config_path):
    """Return ``(username, password)``: from ``params`` when given, else from the Docker ``config_path``, else ``(None, None)``."""
    if params.get('username'):
        return params['username'], params.get('password')
    if not config_path or not os.path.isfile(config_path):
        return None, None
    try:
        with open(config_path, 'rb') as handle:
            config = json.loads(handle.read().decode('utf-8') or '{}')
    except (IOError, OSError) as exc:
        raise RegistryError('Cannot read the Docker configuration file %s: %s' % (config_path, one_line(exc)))
    except ValueError as exc:
        raise RegistryError('The Docker configuration file %s is not valid JSON (%s).' % (config_path, one_line(exc)))
    return read_config_credentials(config, address)


def check_repository(name):
    """Raise :class:`RegistryError` unless ``name`` is a valid repository name (such as ``team/app``)."""
    if not name or not _REPOSITORY_RE.match(name) or len(name) > 255:
        raise RegistryError('%r is not a valid repository name: use lower-case path components such as team/app.' % (name, ))


def is_digest(value):
    """Tell whether ``value`` looks like a content digest (``sha256:...``)."""
    return bool(value) and bool(_DIGEST_RE.match(value))


def _compile_patterns(patterns, option):
    compiled = []
    for pattern in patterns or []:
        try:
            compiled.append((pattern, re.compile(pattern)))
        except re.error as exc:
            raise RegistryError('%s: %r is not a valid regular expression (%s).' % (option, pattern, exc))
    return compiled


def compile_patterns(patterns, option):
    """Compile regular expressions, raising :class:`RegistryError` naming ``option`` for an invalid one."""
    return _compile_patterns(patterns, option)


def matching_pattern(value, compiled):
    """Return the first pattern of ``compiled`` that matches the whole ``value``, or ``None``."""
    for pattern, regex in compiled:
        if regex.fullmatch(value):
            return pattern
    return None


def _newest_first_key(entry):
    # Sorted in reverse: a tag without a creation time counts as the oldest; between equal times,
    # the tag whose name sorts last counts as the newer.
    created = entry.get('created')
    if created is None or created == '':
        return (0, '', entry['tag'])
    return (1, created, entry['tag'])


def select_prune(tags, keep_last=0, keep_patterns=None, protected_digests=None, in_use=None, children=None):
    """Decide which manifests of one repository to delete.

    :param tags: list of dicts with ``tag``, ``digest`` and ``created`` (``None`` when unknown, otherwise
        values of one type that sort like the time, such as RFC 3339 texts in UTC with the same precision).
    :param keep_last: how many of the newest tags to keep (by ``created``, then by tag name).
    :param keep_patterns: compiled patterns (as returned by :func:`compile_patterns`); a tag matching one is kept.
    :param protected_digests: digests that are always kept.
    :param in_use: dict mapping a digest to the list of its users (for example containers); those are always kept.
    :param children: dict mapping the digest of an index (multi-platform image) to the digests of its platform
        manifests; a tagged platform manifest of a kept index is kept too, or the index would break.
    :returns: ``(deleted, kept)``, two lists of dicts ``{digest, tags, reasons}`` sorted by digest.
        A digest is deleted only when no reason keeps it: deleting a manifest removes every tag
        that points at it, so one kept tag keeps the whole digest (and its other tags).
    """
    protected = set(protected_digests or [])
    in_use = in_use or {}
    by_digest = {}
    for entry in tags:
        by_digest.setdefault(entry['digest'], []).append(entry['tag'])
    reasons = dict((digest, []) for digest in by_digest)
    newest = sorted(tags, key=_newest_first_key, reverse=True)[:max(keep_last or 0, 0)]
    for position, entry in enumerate(newest, 1):
        reasons[entry['digest']].append('tag %s is number %d of the %d newest tags' % (entry['tag'], position, keep_last))
    for entry in tags:
        pattern = matching_pattern(entry['tag'], keep_patterns or [])
        if pattern is not None:
            reasons[entry['digest']].append('tag %s matches keep pattern %s' % (entry['tag'], pattern))
    for digest in by_digest:
        if digest in protected:
            reasons[digest].append('protected digest')
        for user in in_use.get(digest, []):
            reasons[digest].append('in use by %s' % user)
    for digest, child_digests in sorted((children or {}).items()):
        if reasons.get(digest):
            for child in child_digests:
                if child in reasons and child != digest:
                    reasons[child].append('platform manifest of the kept index %s' % digest)
    deleted, kept = [], []
    for digest in sorted(by_digest):
        item = dict(digest=digest, tags=sorted(by_digest[digest]), reasons=reasons[digest])
        (kept if reasons[digest] else deleted).append(item)
    return deleted, kept


class RegistryClient(object):
    """One registry, with its credentials and TLS settings.

    :param registry_url: ``HOST[:PORT]`` or ``https://HOST[:PORT]`` (see :func:`parse_registry_url`).
    :param username: user name for basic authentication or to obtain a bearer token (optional).
    :param password: its password or access token (optional).
    :param validate_certs: check the registry certificate (against ``ca_path`` or the system CAs).
    :param ca_path: CA certificate (PEM) that signed the registry certificate.
    """

    def __init__(self, registry_url, username=None, password=None, validate_certs=True, ca_path=None, timeout=DEFAULT_TIMEOUT):
        if not HAS_REQUESTS:
            raise RegistryError('The Python library requests is required to talk to a registry; install it on the host that runs the module.')
        self.address = parse_registry_url(registry_url)
        self.name = self.address.host
        self.username = username or None
        self._password = password
        if bool(self.username) != bool(password):
            raise RegistryError('username and password must be given together (registry %s).' % self.name)
        if ca_path and not os.path.isfile(ca_path):
            raise RegistryError('ca_path %s does not exist or is not a file (CA certificate of registry %s).' % (ca_path, self.name))
        self.verify = (ca_path or True) if validate_certs else False
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers['User-Agent'] = 'hna.cloudos-registry-client'
        self.session.trust_env = False
        self._use_basic = False
        self._tokens = {}

    # -- transport ---------------------------------------------------------------------------------

    def url(self, path):
        """Return the absolute URL of an API path such as ``/v2/_catalog``."""
        return self.address.base_url + path

    def _send(self, method, url, headers=None, auth_header=None, **kwargs):
        all_headers = dict(headers or {})
        if auth_header:
            all_headers['Authorization'] = auth_header
        try:
            return self.session.request(method, url, headers=all_headers, verify=self.verify, timeout=self.timeout,
                                        allow_redirects=True, **kwargs)
        except SSLError as exc:
            raise RegistryError(self._tls_message(exc))
        except RequestException as exc:
            raise RegistryError('Cannot reach the registry at %s: %s.' % (self._clean_url(url), self._reason(exc)))

    def _clean_url(self, url):
        parts = urlsplit(url)
        return '%s://%s%s' % (parts.scheme, parts.netloc, parts.path)

    def _tls_message(self, exc):
        detail = None
        pending = [exc]
        seen = set()
        while pending:
            item = pending.pop(0)
            if item is None or id(item) in seen or not isinstance(item, BaseException):
                continue
            seen.add(id(item))
            if isinstance(item, ssl.SSLCertVerificationError):
                detail = getattr(item, 'verify_message', None) or str(item)
                break
            pending.extend([getattr(item, 'reason', None), item.__cause__, item.__context__])
            pending.extend(arg for arg in getattr(item, 'args', ()) if isinstance(arg, BaseException))
        text = one_line(detail or exc)
        if detail or 'CERTIFICATE_VERIFY_FAILED' in text or 'certificate verify failed' in text.lower():
            return 'The certificate of registry %s is not trusted (%s): %s.' % (self.name, one_line(detail or 'certificate verify failed'), TRUST_HINT)
        if 'wrong version number' in text.lower() or 'WRONG_VERSION_NUMBER' in text:
            return ('TLS connection to registry %s failed: it does not seem to speak HTTPS on that port '
                    '(use http://%s if it really serves plain HTTP).' % (self.name, self.name))
        return 'TLS connection to registry %s failed: %s.' % (self.name, text)

    @staticmethod
    def _reason(exc):
        text = str(exc)
        for needle, reason in (
            ('Connection refused', 'connection refused'),
            ('Name or service not known', 'the host name cannot be resolved'),
            ('Temporary failure in name resolution', 'the host name cannot be resolved'),
            ('timed out', 'no answer in time (timeout)'),
            ('No route to host', 'no route to host'),
            ('Network is unreachable', 'network is unreachable'),
            ('RemoteDisconnected', 'the registry closed the connection without answering'),
            ('Connection reset', 'the connection was reset'),
        ):
            if needle in text:
                return reason
        return type(exc).__name__

    def _basic_header(self):
        raw = ('%s:%s' % (self.username, self._password)).encode('utf-8')
        return 'Basic ' + to_text(base64.b64encode(raw))

    def _fetch_token(self, params, scope):
        realm = params.get('realm')
        if not realm:
            raise RegistryError('Registry %s asks for a bearer token but names no token service (realm).' % self.name)
        query = {}
        if params.get('service'):
            query['service'] = params['service']
        wanted_scope = params.get('scope') or scope
        if wanted_scope:
            query['scope'] = wanted_scope
        if self.username:
            query['account'] = self.username
        auth_header = self._basic_header() if self.username else None
        response = self._send('GET', realm, params=query, auth_header=auth_header)
        if response.status_code in (401, 403):
            raise self._credentials_error(response.status_code)
        if response.status_code != 200:
            raise RegistryError('The token service %s of registry %s answered HTTP %s.' % (self._clean_url(realm), self.name, response.status_code),
                                status=response.status_code)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        token = answer.get('token') or answer.get('access_token') if isinstance(answer, dict) else None
        if not token:
            raise RegistryError('The token service %s of registry %s returned no token.' % (self._clean_url(realm), self.name))
        return token

    def _credentials_error(self, status):
        if self.username:
            return RegistryError('Registry %s refused the credentials of user %s (HTTP %s): check username and password.' % (
                self.name, self.username, status), status=status)
        return RegistryError('Registry %s requires authentication (HTTP %s): give username and password.' % (self.name, status), status=status)

    def request(self, method, path_or_url, scope=None, headers=None, expected=(200, ), what=None, **kwargs):
        """Send a request, authenticating as the registry asks (basic, or a bearer token for ``scope``).

        Return the response when its status is in ``expected``; otherwise raise :class:`RegistryError`
        with a message built from ``what`` (for example ``'list the tags of team/app'``).
        """
        url = path_or_url if '://' in path_or_url else self.url(path_or_url)
        response = None
        for attempt in range(3):
            if self._use_basic:
                auth_header = self._basic_header()
            else:
                token = self._tokens.get(scope)
                auth_header = ('Bearer %s' % token) if token else None
            response = self._send(method, url, headers=headers, auth_header=auth_header, **kwargs)
            if response.status_code != 401 or attempt == 2:
                break
            challenge_scheme, params = parse_www_authenticate(response.headers.get('WWW-Authenticate'))
            if challenge_scheme == 'basic':
                if self._use_basic or not self.username:
                    raise self._credentials_error(401)
                self._use_basic = True
            elif challenge_scheme == 'bearer':
                if scope in self._tokens:
                    # A fresh token for this scope was refused: the user lacks the rights.
                    raise self._credentials_error(401)
                self._tokens[scope] = self._fetch_token(params, scope)
            else:
                raise self._credentials_error(401)
        if response.status_code in expected:
            return response
        raise self._status_error(response, what or '%s %s' % (method, self._clean_url(url)))

    def _status_error(self, response, what):
        status = response.status_code
        codes, messages = [], []
        try:
            body = response.json()
            for error in body.get('errors') or []:
                codes.append(error.get('code'))
                if error.get('message'):
                    messages.append(error['message'])
        except (ValueError, AttributeError):
            pass
        detail = (': %s' % one_line('; '.join(messages))) if messages else ''
        if status == 401:
            return self._credentials_error(status)
        if status == 403:
            return RegistryError('Registry %s denied access to %s for user %s (HTTP 403).' % (
                self.name, what, self.username or '(anonymous)'), status=status)
        if status == 404:
            return RegistryError('Registry %s cannot %s: not found (HTTP 404%s%s).' % (
                self.name, what, ', ' + ', '.join(c for c in codes if c) if any(codes) else '', detail), status=status)
        if status == 405 and (response.request is not None and response.request.method == 'DELETE'):
            return RegistryError('Registry %s cannot %s: deletes are disabled on it (HTTP 405). Enable them in the registry '
                                 'configuration (storage.delete.enabled: true, or REGISTRY_STORAGE_DELETE_ENABLED=true) '
                                 'and restart it.' % (self.name, what), status=status)
        return RegistryError('Registry %s cannot %s (HTTP %s%s).' % (self.name, what, status, detail), status=status)

    # -- API ---------------------------------------------------------------------------------------

    def check(self):
        """Check that the registry speaks API v2 and accepts the credentials (``GET /v2/``)."""
        response = self.request('GET', '/v2/', scope=None, what='answer the API version check /v2/')
        version = response.headers.get('Docker-Distribution-API-Version')
        if version and not version.startswith('registry/2'):
            raise RegistryError('The service at %s does not speak the registry API v2 (it says %s).' % (self.name, version))
        return True

    def _paginate(self, path, key, scope, what, page_size=100):
        items = []
        url = self.url(path)
        params = {'n': page_size}
        seen = set()
        while url and url not in seen:
            seen.add(url)
            response = self.request('GET', url, scope=scope, what=what, params=params)
            params = None  # the next link carries its own query
            try:
                body = response.json()
            except ValueError:
                raise RegistryError('Registry %s cannot %s: its answer is not valid JSON.' % (self.name, what))
            items.extend((body or {}).get(key) or [])
            url = parse_link_next(response.headers.get('Link'), response.url)
        return items

    def catalog(self):
        """Return the sorted names of every repository of the registry (``GET /v2/_catalog``, paginated)."""
        return sorted(set(self._paginate('/v2/_catalog', 'repositories', 'registry:catalog:*', 'list its repositories')))

    def tags(self, repository):
        """Return the sorted tags of ``repository``; raise :class:`RegistryError` (status 404) if it is unknown."""
        check_repository(repository)
        return sorted(set(self._paginate('/v2/%s/tags/list' % repository, 'tags', 'repository:%s:pull' % repository,
                                         'list the tags of repository %s' % repository)))

    def manifest(self, repository, reference, body=True):
        """Return ``(digest, media_type, manifest)`` of ``repository:reference`` (a tag or a digest).

        With ``body=False`` only ``HEAD`` is sent and ``manifest`` is ``None``.
        """
        check_repository(repository)
        what = 'find the manifest %s%s%s' % (repository, '@' if is_digest(reference) else ':', reference)
        response = self.request('GET' if body else 'HEAD', '/v2/%s/manifests/%s' % (repository, reference),
                                scope='repository:%s:pull' % repository, headers={'Accept': MANIFEST_ACCEPT}, what=what)
        digest = response.headers.get('Docker-Content-Digest')
        media_type = (response.headers.get('Content-Type') or '').split(';')[0].strip()
        document = None
        if body:
            if not digest:
                digest = 'sha256:' + hashlib.sha256(response.content).hexdigest()
            try:
                document = json.loads(to_text(response.content))
            except ValueError:
                raise RegistryError('Registry %s cannot %s: the manifest is not valid JSON.' % (self.name, what))
            media_type = document.get('mediaType') or media_type
        if not digest:
            return self.manifest(repository, reference, body=True)
        return digest, media_type, document

    def blob_json(self, repository, digest):
        """Return a small JSON blob (such as an image configuration) of ``repository``."""
        response = self.request('GET', '/v2/%s/blobs/%s' % (repository, digest), scope='repository:%s:pull' % repository,
                                what='read the blob %s of %s' % (digest, repository))
        try:
            return json.loads(to_text(response.content))
        except ValueError:
            raise RegistryError('Registry %s: the blob %s of %s is not valid JSON.' % (self.name, digest, repository))

    def image_details(self, repository, reference):
        """Return details of ``repository:reference``: digest, media type, size, created, architecture, config digests.

        ``size`` is the configuration plus the layers (summed over the platforms of an index);
        ``created`` is the newest creation time of the image configurations; ``config_digests``
        lists the configuration digests (the image IDs a Docker engine shows); ``manifest_digests``
        lists the platform manifests of an index (empty for a single image).
        """
        digest, media_type, document = self.manifest(repository, reference)
        details = dict(digest=digest, media_type=media_type, size=0, created=None, architecture=None, os=None,
                       platforms=[], config_digests=[], manifest_digests=[])
        if media_type in INDEX_TYPES or 'manifests' in document:
            for child in document.get('manifests') or []:
                platform = child.get('platform') or {}
                if platform.get('architecture') == 'unknown':
                    continue  # attestation manifests of BuildKit
                details['manifest_digests'].append(child['digest'])
                _child_digest, _child_type, child_document = self.manifest(repository, child['digest'])
                self._add_image(repository, child_document, details)
                details['platforms'].append('%s/%s' % (platform.get('os', 'unknown'), platform.get('architecture', 'unknown')))
            details['architecture'] = ','.join(sorted(set(p.split('/', 1)[1] for p in details['platforms']))) or None
        else:
            self._add_image(repository, document, details)
            if details['os'] and details['architecture']:
                details['platforms'].append('%s/%s' % (details['os'], details['architecture']))
        return details

    def _add_image(self, repository, document, details):
        config = document.get('config') or {}
        details['size'] += int(config.get('size') or 0) + sum(int(layer.get('size') or 0) for layer in document.get('layers') or [])
        if config.get('digest'):
            details['config_digests'].append(config['digest'])
            blob = self.blob_json(repository, config['digest'])
            created = blob.get('created') if isinstance(blob, dict) else None
            if created and (details['created'] is None or created > details['created']):
                details['created'] = created
            if isinstance(blob, dict):
                details['architecture'] = details['architecture'] or blob.get('architecture')
                details['os'] = details['os'] or blob.get('os')

    def delete_manifest(self, repository, digest):
        """Delete the manifest ``digest`` of ``repository`` (and so every tag pointing at it)."""
        if not is_digest(digest):
            raise RegistryError('%r is not a digest: only digests can be deleted.' % (digest, ))
        self.request('DELETE', '/v2/%s/manifests/%s' % (repository, digest), scope='repository:%s:pull,push,delete' % repository,
                     expected=(200, 202), what='delete the manifest %s@%s' % (repository, digest))

    def close(self):
        self.session.close()
