# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection to a Docker engine, shared by every hna.cloudos module that talks to one.

A module builds one :class:`DockerClient`. The client creates the ``AnsibleModule`` (with the
common connection options merged into the module's own options), checks that the Docker SDK
for Python is present, connects to the engine once and negotiates the API version. Every
failure is reported as a single line through :meth:`DockerClient.fail`.

The helpers at module level (API version comparison, ``docker_host`` parsing, error
description) have no side effects and are meant to be reused by the other private
``_docker_*`` module_utils of the collection.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import ssl
import traceback

from collections import namedtuple
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.errors import AnsibleFallbackNotFound

DOCKER_IMPORT_ERROR = None
try:
    import docker
    from docker.errors import APIError, DockerException, TLSParameterError
    from docker.tls import TLSConfig
    from requests.exceptions import RequestException
except ImportError:
    DOCKER_IMPORT_ERROR = traceback.format_exc()
    HAS_DOCKER = False
else:
    HAS_DOCKER = True


#: Oldest Docker Engine API version the collection supports, and the engine release that brought it.
MIN_DOCKER_API_VERSION = '1.41'
MIN_DOCKER_ENGINE_VERSION = '20.10'

DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'
DEFAULT_TIMEOUT = 60

#: Schemes accepted in ``docker_host``.
DOCKER_HOST_SCHEMES = ('unix', 'tcp', 'http', 'https')

#: Where to look for ``ca_path``, ``client_cert`` and ``client_key`` inside ``$DOCKER_CERT_PATH``.
DOCKER_CERT_PATH_FILES = {
    'ca_path': 'ca.pem',
    'client_cert': 'cert.pem',
    'client_key': 'key.pem',
}

_API_VERSION_RE = re.compile(r'^(\d+)\.(\d+)$')

DockerHost = namedtuple('DockerHost', ['url', 'scheme', 'host', 'port', 'path'])


class DockerClientError(Exception):
    """A problem with the connection options, found before talking to the engine."""


def _env_fallback_non_empty(*names):
    """Like ``env_fallback``, but an empty variable counts as unset (as the Docker CLI does)."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    raise AnsibleFallbackNotFound


def docker_common_argument_spec():
    """Return a new argument spec with the connection options every Docker module accepts.

    A fresh dictionary is built at each call, so callers may change it freely.
    """
    return dict(
        docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST, fallback=(_env_fallback_non_empty, ['DOCKER_HOST'])),
        tls=dict(type='bool', default=False, fallback=(_env_fallback_non_empty, ['DOCKER_TLS'])),
        validate_certs=dict(type='bool', default=False, fallback=(_env_fallback_non_empty, ['DOCKER_TLS_VERIFY'])),
        ca_path=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path'),
        timeout=dict(type='int', default=DEFAULT_TIMEOUT, fallback=(_env_fallback_non_empty, ['DOCKER_TIMEOUT'])),
        api_version=dict(type='str', default='auto', fallback=(_env_fallback_non_empty, ['DOCKER_API_VERSION'])),
    )


def one_line(text):
    """Collapse any whitespace (newlines included) so that ``text`` fits on one line."""
    return ' '.join(to_native(text).split())


def error_text(exc):
    """Return what an error of the engine (or of the Docker SDK) says, on one line: its explanation, else its text,
    else the name of its type."""
    text = getattr(exc, 'explanation', None) or str(exc) or type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return one_line(text)


def parse_api_version(value):
    """Return ``(major, minor)`` for an API version such as ``'1.41'``; raise ``ValueError`` otherwise."""
    match = _API_VERSION_RE.match(str(value).strip())
    if not match:
        raise ValueError('%r is not an API version of the form MAJOR.MINOR, for example 1.41' % (value, ))
    return int(match.group(1)), int(match.group(2))


def compare_api_versions(left, right):
    """Return -1, 0 or 1 as API version ``left`` is older than, equal to or newer than ``right``."""
    left_key = parse_api_version(left)
    right_key = parse_api_version(right)
    return (left_key > right_key) - (left_key < right_key)


def api_version_at_least(version, minimum):
    """Tell whether API version ``version`` is ``minimum`` or newer."""
    return compare_api_versions(version, minimum) >= 0


def parse_docker_host(value, tls=False):
    """Check a ``docker_host`` value and return it as a :data:`DockerHost`.

    ``url`` is the normalised address handed to the Docker SDK: ``tcp://`` addresses without a
    port get the Docker default (2376 with TLS, 2375 without). ``http://`` is taken as ``tcp://``
    and ``https://`` as ``tcp://`` with TLS. Raise :class:`DockerClientError` with a message for
    the user when the value cannot be used.
    """
    text = (value or '').strip()
    hint = ('Use unix:///path/to/docker.sock or tcp://HOST:PORT (for example unix:///var/run/docker.sock '
            'or tcp://192.0.2.10:2376).')
    if not text:
        raise DockerClientError('docker_host is empty. %s' % hint)
    if '://' not in text:
        raise DockerClientError('docker_host %s has no scheme. %s' % (text, hint))
    scheme = text.split('://', 1)[0].lower()
    if scheme not in DOCKER_HOST_SCHEMES:
        raise DockerClientError('docker_host %s uses the unsupported scheme %s: the scheme must be one of %s. %s' % (
            text, scheme, ', '.join('%s://' % s for s in DOCKER_HOST_SCHEMES), hint))
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise DockerClientError('docker_host %s is not a valid address (%s). %s' % (text, exc, hint))

    if scheme == 'unix':
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if not path.startswith('/'):
            path = '/' + path
        if path == '/':
            raise DockerClientError('docker_host %s names no socket path. %s' % (text, hint))
        return DockerHost(url='unix://' + path, scheme='unix', host=None, port=None, path=path)

    host = parts.hostname
    if not host:
        raise DockerClientError('docker_host %s names no host. %s' % (text, hint))
    if parts.path not in ('', '/') or parts.query or parts.fragment:
        raise DockerClientError('docker_host %s must not contain a path, query or fragment after HOST:PORT. %s' % (text, hint))
    if parts.username is not None or parts.password is not None:
        raise DockerClientError('docker_host %s must not contain user credentials. %s' % (text, hint))
    if port is None:
        port = 2376 if (tls or scheme == 'https') else 2375
    if port == 0:
        raise DockerClientError('docker_host %s has the invalid port 0. %s' % (text, hint))
    url_host = '[%s]' % host if ':' in host else host
    return DockerHost(url='tcp://%s:%d' % (url_host, port), scheme='https' if scheme == 'https' else 'tcp',
                      host=host, port=port, path=None)


def uses_tls(params, docker_host=None):
    """Tell whether the connection uses TLS: ``tls``, ``validate_certs`` or an ``https://`` address turn it on."""
    return bool(params.get('tls') or params.get('validate_certs') or (docker_host is not None and docker_host.scheme == 'https'))


def resolve_cert_paths(params, environ):
    """Return ``ca_path``, ``client_cert`` and ``client_key``, filling the unset ones from ``$DOCKER_CERT_PATH``.

    As with the Docker CLI, a file from ``$DOCKER_CERT_PATH`` (``ca.pem``, ``cert.pem``, ``key.pem``)
    is only used when it exists.
    """
    cert_dir = environ.get('DOCKER_CERT_PATH') or None
    resolved = {}
    for option, filename in DOCKER_CERT_PATH_FILES.items():
        value = params.get(option)
        if not value and cert_dir:
            candidate = os.path.join(cert_dir, filename)
            if os.path.isfile(candidate):
                value = candidate
        resolved[option] = value or None
    return resolved


def check_requested_api_version(api_version, minimum=MIN_DOCKER_API_VERSION):
    """Check the ``api_version`` option. Return ``None`` for ``auto``, otherwise the version string.

    Raise :class:`DockerClientError` if it is malformed or older than ``minimum``.
    """
    value = (api_version or 'auto').strip()
    if value.lower() in ('auto', 'latest'):
        return None
    try:
        parse_api_version(value)
    except ValueError:
        raise DockerClientError('api_version %r is not valid: use auto or a version of the form MAJOR.MINOR, for example %s.' % (
            value, minimum))
    if not api_version_at_least(value, minimum):
        raise DockerClientError(
            'api_version %s is older than %s, the oldest Docker API version this module supports (Docker Engine %s). '
            'Set api_version to auto (or remove it and unset DOCKER_API_VERSION) or to %s or newer.' % (
                value, minimum, engine_release_for(minimum), minimum))
    return value


def engine_release_for(api_version):
    """Return the Docker Engine release that introduced ``api_version``, as far as the collection knows it."""
    known = {
        '1.41': '20.10',
        '1.42': '23.0',
        '1.43': '24.0',
        '1.44': '25.0',
        '1.45': '26.0',
        '1.46': '27.0',
        '1.47': '27.3',
        '1.48': '28.0',
    }
    return known.get(api_version, 'supporting API %s' % api_version)


def _exception_chain(exc):
    """Yield ``exc`` and every exception it wraps (causes, contexts and exception arguments)."""
    seen = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        yield current
        pending.append(getattr(current, 'reason', None))
        pending.append(current.__cause__)
        pending.append(current.__context__)
        pending.extend(arg for arg in getattr(current, 'args', ()) if isinstance(arg, BaseException))


def describe_connection_error(exc):
    """Classify an exception raised while talking to the engine.

    Return ``(kind, reason)``: ``kind`` is ``'tls'`` for a TLS failure, otherwise ``'connection'``;
    ``reason`` is a short lower-case phrase for the message (for example ``connection refused``).
    """
    chain = list(_exception_chain(exc))
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            detail = getattr(item, 'verify_message', None) or getattr(item, 'reason', None) or item
            return 'tls', 'certificate verify failed: %s' % one_line(detail)
    for item in chain:
        if isinstance(item, ssl.SSLError):
            detail = getattr(item, 'reason', None) or item
            return 'tls', one_line(str(detail).replace('_', ' ').lower())
    for item in chain:
        if type(item).__name__ == 'SSLError':
            return 'tls', one_line(item)
    reasons = {
        errno.ECONNREFUSED: 'connection refused',
        errno.ENOENT: 'the socket file does not exist',
        errno.EACCES: 'permission denied on the socket',
        errno.EPERM: 'permission denied on the socket',
        errno.ETIMEDOUT: 'the connection timed out',
        errno.EHOSTUNREACH: 'no route to host',
        errno.ENETUNREACH: 'network is unreachable',
        errno.ECONNRESET: 'the connection was reset',
        errno.ENOTSOCK: 'the path is not a socket',
        errno.ECONNABORTED: 'the connection was aborted',
    }
    for item in chain:
        code = getattr(item, 'errno', None)
        if isinstance(item, OSError) and code in reasons:
            return 'connection', reasons[code]
    for item in chain:
        # A read timeout: the connection was made, the engine did not answer in time.
        if type(item).__name__ in ('ReadTimeout', 'ReadTimeoutError') or 'read timed out' in str(item).lower():
            return 'timeout', 'the engine did not answer in time'
    for item in chain:
        if isinstance(item, TimeoutError) or 'timed out' in str(item).lower() or 'timeout' in type(item).__name__.lower():
            return 'connection', 'no answer in time (timeout)'
    text = str(exc)
    for needle, reason in (
        ('Name or service not known', 'the host name cannot be resolved'),
        ('nodename nor servname', 'the host name cannot be resolved'),
        ('Temporary failure in name resolution', 'the host name cannot be resolved'),
        ('Connection refused', 'connection refused'),
        ('No such file or directory', 'the socket file does not exist'),
        ('Permission denied', 'permission denied on the socket'),
        ('RemoteDisconnected', 'the engine closed the connection without answering'),
    ):
        if needle in text:
            return 'connection', reason
    return 'connection', one_line(text) or type(exc).__name__


def connection_error_message(docker_host, exc, timeout=None, what=None):
    """Return the one-line message for an exception raised while reaching the engine at ``docker_host``.

    ``timeout`` (the client's read timeout in seconds) and ``what`` (the request, completing "could not ...")
    make the message of a read timeout more precise.
    """
    kind, reason = describe_connection_error(exc)
    if kind == 'timeout':
        return ('The Docker engine at %s did not answer in time%s%s: it was reached, but the request took longer than the '
                'client waits. Raise timeout (or DOCKER_TIMEOUT) if the engine is busy or the step is slow.' % (
                    docker_host, ' to %s' % what if what else '', ' (timeout: %s s)' % timeout if timeout else ''))
    if kind == 'tls':
        return ('TLS connection to the Docker engine at %s failed: %s. Check ca_path (the CA that signed the engine '
                'certificate), validate_certs, and client_cert/client_key (or DOCKER_CERT_PATH), and that the engine '
                'really listens with TLS on that address.' % (docker_host, reason))
    if reason == 'permission denied on the socket':
        return ('Cannot reach the Docker engine at %s: %s. Run as a user allowed to use it (for example a member of '
                'the docker group, or with become) or check docker_host (or DOCKER_HOST).' % (docker_host, reason))
    return ('Cannot reach the Docker engine at %s: %s. Check docker_host (or DOCKER_HOST) and that the engine is '
            'running.' % (docker_host, reason))


_HTML_TITLE_RE = re.compile(r'<title[^>]*>(.*?)</title>', re.IGNORECASE | re.DOTALL)


def _looks_like_html(text):
    """Tell whether an answer is an HTML page (a web server or proxy answered, not a Docker engine)."""
    head = (text or '').lstrip()[:300].lower()
    return head.startswith('<') and any(tag in head for tag in ('<!doctype html', '<html', '<head', '<body', '<title'))


def html_title(text):
    """Return `` ("TITLE")`` for an HTML page with a title (at most 80 characters), ``''`` otherwise."""
    match = _HTML_TITLE_RE.search(text or '')
    title = one_line(re.sub(r'<[^>]*>', '', match.group(1))) if match else ''
    return ' ("%s")' % title[:80] if title else ''


def api_error_message(docker_host, what, exc):
    """Return the one-line message for an error answer of the engine."""
    status = getattr(exc, 'status_code', None)
    if status is None and getattr(exc, 'response', None) is not None:
        status = getattr(exc.response, 'status_code', None)
    text = error_text(exc)
    if _looks_like_html(text):
        return ('The service at %s answered HTTP %s with a web page%s instead of a Docker engine answer: check docker_host '
                '(or DOCKER_HOST) points at the Docker engine.' % (docker_host, status or '?', html_title(text)))
    if 'HTTP request to an HTTPS server' in text:
        return ('The Docker engine at %s only accepts TLS connections: set tls: true (and validate_certs: true with '
                'ca_path, client_cert and client_key as the engine requires).' % docker_host)
    prefix = 'The Docker engine at %s could not %s' % (docker_host, what)
    if status:
        return '%s (HTTP %s): %s' % (prefix, status, text)
    return '%s: %s' % (prefix, text)


class DockerClient(object):
    """One connection to a Docker engine, plus the ``AnsibleModule`` of the module using it.

    :param argument_spec: the module's own options; the common connection options are added.
    :param supports_check_mode: passed to ``AnsibleModule``.
    :param min_api_version: the oldest engine API version the module works with
        (never older than :data:`MIN_DOCKER_API_VERSION`).
    :param module_kwargs: any other ``AnsibleModule`` argument (``mutually_exclusive``, ``required_if``, ...).

    After construction:

    * ``module`` and ``params`` are the ``AnsibleModule`` and its parameters;
    * ``api`` is a connected ``docker.APIClient`` using the negotiated API version;
    * ``docker_host`` is the normalised engine address (for messages);
    * ``server_version`` is the engine's ``/version`` answer (no extra request needed);
    * ``api_version`` is the API version used for every request.

    A module that has no common connection options, or that talks to several engines, builds its
    ``AnsibleModule`` itself and gets a client for each engine from :meth:`for_engine`.
    """

    #: Start of every failure message (set by :meth:`for_engine`), for example the option that named the engine.
    fail_prefix = None
    #: Results returned with every failure (set by :meth:`for_engine`), for example what the module did so far.
    partial_results = None

    def __init__(self, argument_spec=None, supports_check_mode=False, min_api_version=MIN_DOCKER_API_VERSION, **module_kwargs):
        spec = docker_common_argument_spec()
        spec.update(argument_spec or {})
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **module_kwargs)
        self.params = self.module.params
        self._start(min_api_version, os.environ)

    @classmethod
    def for_engine(cls, module, docker_host, tls=False, validate_certs=False, ca_path=None, client_cert=None, client_key=None,
                   timeout=DEFAULT_TIMEOUT, api_version='auto', min_api_version=MIN_DOCKER_API_VERSION, fail_prefix=None,
                   partial_results=None):
        """Return a client connected to the engine at ``docker_host``, for a module that built its ``AnsibleModule`` itself.

        The connection settings mean what the common connection options of the same names mean, and
        are checked, connected and reported the same way as by the constructor (one-line failures,
        API version negotiation), but they are taken as given: no environment variable (``DOCKER_HOST``,
        ``DOCKER_CERT_PATH``, ...) fills them in. ``params`` of the client holds these settings (the module's
        options stay in ``module.params``). Each call connects a new client; close it when done.

        :param module: the ``AnsibleModule`` to fail (and to read ``check_mode`` from).
        :param fail_prefix: text put with ``': '`` before every failure message, such as the option that named the engine.
        :param partial_results: results returned with every failure of this client (``changed`` is ``False`` unless they say otherwise).
        """
        client = cls.__new__(cls)
        client.module = module
        client.params = dict(docker_host=docker_host, tls=tls, validate_certs=validate_certs, ca_path=ca_path, client_cert=client_cert,
                             client_key=client_key, timeout=timeout, api_version=api_version)
        client.fail_prefix = fail_prefix
        client.partial_results = dict(partial_results or {})
        client._start(min_api_version, {})
        return client

    def _start(self, min_api_version, environ):
        """Check the connection settings of ``params`` (``DOCKER_CERT_PATH`` from ``environ``), then connect."""
        self.check_mode = self.module.check_mode
        self.api = None
        self.server_version = {}
        self.api_version = None
        self.docker_host = self.params.get('docker_host')

        if not HAS_DOCKER:
            self.fail(missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)

        if not api_version_at_least(min_api_version, MIN_DOCKER_API_VERSION):
            min_api_version = MIN_DOCKER_API_VERSION
        self.min_api_version = min_api_version

        try:
            host = parse_docker_host(self.params['docker_host'], tls=bool(self.params['tls'] or self.params['validate_certs']))
            self.docker_host = host.url if host.scheme != 'https' else 'https://%s' % host.url[len('tcp://'):]
            self.tls = uses_tls(self.params, host)
            self.cert_paths = resolve_cert_paths(self.params, environ)
            requested = check_requested_api_version(self.params['api_version'], min_api_version)
            if self.params['timeout'] is None or self.params['timeout'] <= 0:
                raise DockerClientError('timeout must be a positive number of seconds, not %s.' % self.params['timeout'])
        except DockerClientError as exc:
            self.fail(str(exc))
        self._connect(host, requested)

    # -- failure reporting -------------------------------------------------------------------------

    def fail(self, msg, **partial_results):
        """Fail the module with a one-line ``msg``; ``partial_results`` are returned alongside it."""
        results = dict(self.partial_results or {})
        results.update(partial_results)
        results.setdefault('changed', False)
        if self.fail_prefix:
            msg = '%s: %s' % (self.fail_prefix, msg)
        self.module.fail_json(msg=one_line(msg), **results)

    @contextlib.contextmanager
    def api_errors(self, what, **partial_results):
        """Turn any Docker SDK or transport error raised in the ``with`` block into :meth:`fail`.

        ``what`` completes the sentence "The Docker engine at ... could not ...", for example
        ``'list the containers'``. ``partial_results`` are returned with the failure.
        Keep only the engine requests inside the block: a ``ValueError`` raised in it is reported
        as an answer of the engine that is not valid JSON.
        """
        try:
            yield
        except APIError as exc:
            self.fail(api_error_message(self.docker_host, what, exc), **partial_results)
        except ValueError as exc:
            # An answer that is not JSON (requests' JSONDecodeError is also a RequestException).
            self.fail('The Docker engine at %s could not %s: its answer is not valid JSON (%s)' % (self.docker_host, what, one_line(exc)),
                      exception=traceback.format_exc(), **partial_results)
        except RequestException as exc:
            self.fail(connection_error_message(self.docker_host, exc, self.params.get('timeout'), what), **partial_results)
        except DockerException as exc:
            self.fail('Docker engine at %s: could not %s: %s' % (self.docker_host, what, exc),
                      exception=traceback.format_exc(), **partial_results)

    # -- connection --------------------------------------------------------------------------------

    def _tls_config(self):
        """Return the ``TLSConfig`` for the connection, or ``False`` without TLS."""
        if not self.tls:
            return False
        cert, key = self.cert_paths['client_cert'], self.cert_paths['client_key']
        if bool(cert) != bool(key):
            self.fail('client_cert and client_key must be given together (or both found in DOCKER_CERT_PATH); '
                      'only %s is set.' % ('client_cert' if cert else 'client_key'))
        for option in ('ca_path', 'client_cert', 'client_key'):
            path = self.cert_paths[option]
            if path and not os.path.isfile(path):
                self.fail('%s %s does not exist or is not a file (needed for TLS to the Docker engine at %s).' % (
                    option, path, self.docker_host))
        verify = bool(self.params['validate_certs'])
        try:
            return TLSConfig(
                client_cert=(cert, key) if cert else None,
                ca_cert=self.cert_paths['ca_path'] if verify else None,
                verify=verify,
            )
        except TLSParameterError as exc:
            self.fail('Invalid TLS settings for the Docker engine at %s: %s Check ca_path, client_cert and client_key.' % (
                self.docker_host, exc))

    def _connect(self, host, requested):
        """Connect, read the engine's ``/version`` and settle on the API version to use."""
        tls_config = self._tls_config()
        try:
            api = docker.APIClient(base_url=host.url, version=requested or self.min_api_version,
                                   timeout=self.params['timeout'], tls=tls_config)
        except DockerException as exc:
            self.fail('Cannot use docker_host %s: %s' % (self.docker_host, exc))

        try:
            version = api.version(api_version=False)
        except APIError as exc:
            self.fail(api_error_message(self.docker_host, 'tell its version', exc))
        except ValueError as exc:
            # An answer that is not JSON (requests' JSONDecodeError is also a RequestException).
            self.fail('The service at %s does not answer like a Docker engine: %s' % (self.docker_host, one_line(exc)),
                      exception=traceback.format_exc())
        except RequestException as exc:
            self.fail(connection_error_message(self.docker_host, exc, self.params.get('timeout'), 'tell its version'))
        except DockerException as exc:
            self.fail('The service at %s does not answer like a Docker engine: %s' % (self.docker_host, one_line(exc)),
                      exception=traceback.format_exc())

        server_api = version.get('ApiVersion') if isinstance(version, dict) else None
        server_min_api = version.get('MinAPIVersion') if isinstance(version, dict) else None
        try:
            parse_api_version(server_api)
        except ValueError:
            self.fail('The service at %s does not answer like a Docker engine (no API version in its /version answer).'
                      % self.docker_host)

        if not api_version_at_least(server_api, self.min_api_version):
            self.fail('The Docker engine at %s (version %s) speaks Docker API %s, older than %s, the oldest this module '
                      'supports. Upgrade the engine to Docker Engine %s or newer.' % (
                          self.docker_host, version.get('Version', 'unknown'), server_api, self.min_api_version,
                          engine_release_for(self.min_api_version)))

        if requested:
            if compare_api_versions(requested, server_api) > 0:
                self.fail('api_version %s is newer than the Docker engine at %s supports (at most %s). Set api_version '
                          'to auto or to %s or older.' % (requested, self.docker_host, server_api, server_api))
            if server_min_api and compare_api_versions(requested, server_min_api) < 0:
                self.fail('api_version %s is older than the Docker engine at %s accepts (at least %s). Set api_version '
                          'to auto or to %s or newer.' % (requested, self.docker_host, server_min_api, server_min_api))
            chosen = requested
        else:
            chosen = server_api

        # The SDK keeps the version in use in this attribute; setting it here (as its own "auto"
        # negotiation does) reuses the connection that answered /version instead of opening another.
        api._version = chosen
        self.api = api
        self.api_version = chosen
        self.server_version = version

    def new_api(self):
        """Return a new ``docker.APIClient`` to the same engine, with the same settings and API version.

        Meant for worker threads: a ``docker.APIClient`` must not be shared between threads, so each
        thread asks for its own (and closes it when done). Nothing is requested from the engine.
        Raises ``docker.errors.DockerException`` if the client cannot be built.
        """
        host = parse_docker_host(self.params['docker_host'], tls=bool(self.params['tls'] or self.params['validate_certs']))
        return docker.APIClient(base_url=host.url, version=self.api_version, timeout=self.params['timeout'],
                                tls=self._tls_config())

    def close(self):
        """Close the connection to the engine."""
        if self.api is not None:
            self.api.close()
