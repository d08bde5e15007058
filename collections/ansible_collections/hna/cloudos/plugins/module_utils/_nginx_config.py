# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Switch one configuration file of an nginx that runs in a container, safely.

The file lives on the Docker host, in a directory bind-mounted into the container. A switch is:

1. write the new content atomically (temporary file in the same directory, fsync, rename), after
   keeping the old content as ``<path>.previous``;
2. ``nginx -t`` inside the container (an exec through the engine API);
3. on failure, put the old content back and fail with nginx's error line; on success send ``SIGHUP``
   to the nginx master and, when asked to, wait until the master runs new workers and no old worker
   still accepts requests: from then on every new connection is served with the new configuration.

Steps 2 and 3 are one shell script run by one exec (:data:`SWITCH_SCRIPT`), so that a switch costs a
single round trip to the engine besides the inspection of the container. Two runs against the same
container are serialised by a lock on the host (:class:`EngineLock`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import error_text, one_line
from ansible_collections.hna.cloudos.plugins.module_utils._lock import EngineLock, LockError

#: Exit codes of :data:`SWITCH_SCRIPT`.
EXIT_OK = 0
EXIT_TEST_FAILED = 3
EXIT_NO_MASTER = 4
EXIT_SIGNAL_FAILED = 5
EXIT_RELOAD_TIMEOUT = 6

PREVIOUS_SUFFIX = '.previous'
# How far ahead of the host's clock switch_at may be: further is a wrong value or clocks that disagree.
MAX_SWITCH_AHEAD = 120
# Seconds after switch_at that still count as in time.
LATE_TOLERANCE = 0.01

# Run with: sh -c SWITCH_SCRIPT switch <action> <timeout>, action being test, reload or wait (reload and wait
# for the new workers), timeout the hundredths of a second to wait for them (measured on /proc/uptime).
# It prints what it found as "key=value" lines (and nginx's own output when the test fails).
SWITCH_SCRIPT = r"""
set -u
action=$1
timeout=$2
centiseconds() {
    read -r up rest < /proc/uptime
    echo $(( ${up%.*} * 100 + 1${up#*.} - 100 ))
}
if ! out=$(nginx -t 2>&1); then
    printf '%s\n' "$out"
    exit 3
fi
[ "$action" = test ] && exit 0
is_master() {
    case "$(tr '\000' ' ' < "/proc/$1/cmdline" 2>/dev/null)" in
        "nginx: master process"*) return 0 ;;
    esac
    return 1
}
# The master named by the pid file of the usual nginx.conf, else the first master found.
master=
for file in /run/nginx.pid /var/run/nginx.pid; do
    if [ -r "$file" ] && read -r pid < "$file" && [ -n "$pid" ] && is_master "$pid"; then
        master=$pid
        break
    fi
done
if [ -z "$master" ]; then
    for dir in /proc/[0-9]*; do
        if is_master "${dir#/proc/}"; then
            master=${dir#/proc/}
            break
        fi
    done
fi
if [ -z "$master" ]; then
    echo 'error=no nginx master process runs in the container'
    exit 4
fi
# The active workers of the master (a worker that is shutting down no longer accepts connections).
workers() {
    for dir in /proc/[0-9]*; do
        read -r pid comm state ppid rest < "$dir/stat" 2>/dev/null || continue
        [ "$ppid" = "$master" ] || continue
        case "$(tr '\000' ' ' < "$dir/cmdline" 2>/dev/null)" in
            "nginx: worker process is shutting down"*) ;;
            "nginx: worker process"*) printf '%s ' "$pid" ;;
        esac
    done
}
old=$(workers)
echo "master=$master"
echo "old=$old"
if ! kill -HUP "$master"; then
    echo "error=could not signal the nginx master $master"
    exit 5
fi
[ "$action" = reload ] && exit 0
deadline=$(( $(centiseconds) + timeout ))
while :; do
    new=
    left=
    for pid in $(workers); do
        case " $old " in
            *" $pid "*) left="$left$pid " ;;
            *) new="$new$pid " ;;
        esac
    done
    if [ -n "$new" ] && [ -z "$left" ]; then
        echo "new=$new"
        exit 0
    fi
    if [ "$(centiseconds)" -ge "$deadline" ]; then
        echo "new=$new"
        echo "left=$left"
        exit 6
    fi
    sleep 0.02
done
"""

_NGINX_ERROR_RE = re.compile(r'\[(emerg|alert|crit|error)\]')
# The start of a line of nginx's error log: time, level, process and connection IDs.
_NGINX_LOG_PREFIX_RE = re.compile(r'^(?:nginx: )?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (?:\*\d+ )?')


class NginxConfigError(Exception):
    """A switch failed; the message is one line for the user."""


def checksum(data):
    """The sha256 of ``data`` (bytes) in hex, or ``None`` for a file that does not exist."""
    return None if data is None else hashlib.sha256(data).hexdigest()


def read_file(path):
    """The content of ``path`` as bytes, or ``None`` when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NginxConfigError('cannot read %s: %s' % (path, exc.strerror or exc))


def parse_mode(value):
    """The file mode from an octal string (V(0644)) or an integer; ``ValueError`` when it is not one."""
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        if not re.match(r'^0?[0-7]{3,4}$', text):
            raise ValueError('mode %r is not an octal file mode such as 0644' % (value, ))
        mode = int(text, 8)
    if mode < 0 or mode > 0o7777:
        raise ValueError('mode %r is not a file mode' % (value, ))
    return mode


def atomic_write(path, data, mode):
    """Write ``data`` to ``path`` through a temporary file in the same directory (fsync, then rename)."""
    directory, name = os.path.split(path)
    descriptor, temporary = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory or '.')
    try:
        with os.fdopen(descriptor, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    sync_directory(directory or '.')


def sync_directory(directory):
    """fsync a directory so that a rename in it survives a crash (best effort)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def restore(path, previous, mode):
    """Put ``previous`` (bytes, or ``None``: the file did not exist) back at ``path``."""
    if previous is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sync_directory(os.path.dirname(path) or '.')
    else:
        atomic_write(path, previous, mode)


def container_path(mounts, path):
    """The path inside the container of host file ``path``, through the bind mounts ``mounts`` (the engine's
    ``Mounts`` list of the container), or ``None`` when no bind mount holds it."""
    real = os.path.realpath(path)
    best = None
    for mount in mounts or []:
        if mount.get('Type') != 'bind' or not mount.get('Source') or not mount.get('Destination'):
            continue
        source = os.path.realpath(mount['Source'])
        if real == source or real.startswith(source.rstrip('/') + '/'):
            if best is None or len(source) > len(best[0]):
                best = (source, mount['Destination'])
    if best is None:
        return None
    rest = real[len(best[0]):].lstrip('/')
    return best[1].rstrip('/') + ('/' + rest if rest else '')


def nginx_error_line(output):
    """The line of ``nginx -t`` output that says what is wrong (one line), else its first line."""
    lines = [_NGINX_LOG_PREFIX_RE.sub(r'\1 ', line.strip()) for line in (output or '').splitlines() if line.strip()]
    for line in lines:
        if _NGINX_ERROR_RE.search(line):
            return line
    return lines[0] if lines else 'nginx -t failed without output'


def parse_script_output(output):
    """The ``key=value`` lines of :data:`SWITCH_SCRIPT` as a dict (the other lines are ignored)."""
    result = {}
    for line in (output or '').splitlines():
        key, sep, value = line.partition('=')
        if sep and key in ('master', 'old', 'new', 'left', 'error'):
            result[key] = value.strip()
    return result


def pid_list(text):
    """``'12 13 '`` -> ``[12, 13]``."""
    return [int(item) for item in (text or '').split() if item.isdigit()]


class NginxContainer(object):
    """The nginx of one container, through ``api`` (a ``docker.APIClient``)."""

    def __init__(self, api, container, docker_host):
        self.api = api
        self.container = container
        self.docker_host = docker_host

    def _call(self, what, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            # docker.errors.* and requests errors: one line, whatever the SDK raised.
            raise NginxConfigError('container %s on %s: could not %s: %s' % (
                self.container, self.docker_host, what, error_text(exc))) from None

    def inspect(self):
        """The engine's description of the container; :class:`NginxConfigError` unless it runs."""
        info = self._call('inspect it', self.api.inspect_container, self.container)
        state = info.get('State') or {}
        if not state.get('Running'):
            raise NginxConfigError('container %s on %s does not run (status %s): start it first, nginx must run in it' % (
                self.container, self.docker_host, state.get('Status', 'unknown')))
        return info

    def run(self, action, timeout=0.0):
        """Run :data:`SWITCH_SCRIPT` with ``action``; return ``(exit code, output)``."""
        exec_id = self._call('start nginx -t in it', self.api.exec_create, self.container,
                             ['sh', '-c', SWITCH_SCRIPT, 'switch', action, str(int(round(timeout * 100)))],
                             stdout=True, stderr=True)['Id']
        output = self._call('run nginx -t in it', self.api.exec_start, exec_id)
        code = self._call('read the exit code of nginx -t', self.api.exec_inspect, exec_id).get('ExitCode')
        if isinstance(output, bytes):
            output = output.decode('utf-8', 'replace')
        return code, output or ''

    def log_errors(self, since):
        """nginx's error lines written to the container's log since ``since`` (epoch seconds), newest last."""
        try:
            data = self.api.logs(self.container, stdout=False, stderr=True, since=int(since), tail=200)
        except Exception:  # pylint: disable=broad-except
            return []
        if isinstance(data, bytes):
            data = data.decode('utf-8', 'replace')
        return [_NGINX_LOG_PREFIX_RE.sub(r'\1 ', line.strip()) for line in data.splitlines() if _NGINX_ERROR_RE.search(line)]


def wait_until(instant, clock=None, sleep=None):
    """Sleep until ``instant`` (epoch seconds); return by how many seconds it had already passed when called
    (0.0 when it had not, or by less than :data:`LATE_TOLERANCE`). A wake-up of the sleep a little after the instant,
    on a busy host, is not counted: the caller was there in time."""
    clock = clock or time.time
    sleep = sleep or time.sleep
    left = instant - clock()
    if left <= 0:
        return round(-left, 3) if -left >= LATE_TOLERANCE else 0.0
    while left > 0:
        sleep(min(left, 1.0))
        left = instant - clock()
    return 0.0


def switch(nginx, path, content, mode, state='present', check_mode=False, wait_reload=True, reload_timeout=10.0,
           keep_previous=True, switch_at=None):
    """Put ``content`` (text) at ``path`` (or remove it with ``state='absent'``) and make nginx serve it.

    With ``switch_at`` (epoch seconds), everything that can be checked is checked first, then the
    write, test and reload wait for that instant (at once when it has passed; ``late`` says by how much).

    Return the results of the module. Raise :class:`NginxConfigError` when the switch fails; the file
    then holds its old content again (and the results so far are in the exception's ``results``).
    """
    started = time.monotonic()
    info = nginx.inspect()
    inside = container_path(info.get('Mounts'), path)
    if inside is None:
        binds = ', '.join('%s -> %s' % (m.get('Source'), m.get('Destination'))
                          for m in info.get('Mounts') or [] if m.get('Type') == 'bind') or 'none'
        raise NginxConfigError('path %s is not in a directory bind-mounted into container %s (its bind mounts: %s), so '
                               'nginx would never read it: give a path in the mounted configuration directory'
                               % (path, nginx.container, binds))
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise NginxConfigError('the directory %s of path does not exist on this host: create it (it is the one mounted '
                               'into container %s)' % (directory, nginx.container))

    before = read_file(path)
    after = None if state == 'absent' else content.encode('utf-8')
    results = dict(changed=before != after, path=path, container_path=inside, container=nginx.container,
                   previous_checksum=checksum(before), checksum=checksum(after), reloaded=False, workers={})
    results['diff'] = dict(before_header=path, after_header=path,
                           before='' if before is None else before.decode('utf-8', 'replace'),
                           after='' if after is None else content)
    if not results['changed'] or check_mode:
        results['seconds'] = round(time.monotonic() - started, 3)
        return results

    if switch_at is not None:
        results['late'] = wait_until(switch_at)
    results['switched_at'] = round(time.time(), 3)
    if keep_previous and before is not None:
        atomic_write(path + PREVIOUS_SUFFIX, before, mode)
    if after is None:
        restore(path, None, mode)
    else:
        atomic_write(path, after, mode)

    signalled_at = time.time()
    code, output = nginx.run('wait' if wait_reload else 'reload', reload_timeout)
    found = parse_script_output(output)
    results['workers'] = dict(master=int(found['master']) if found.get('master', '').isdigit() else None,
                              old=pid_list(found.get('old')), new=pid_list(found.get('new')))
    if code == EXIT_OK:
        results['reloaded'] = True
        results['seconds'] = round(time.monotonic() - started, 3)
        return results

    # Anything else: the old content goes back.
    restore(path, before, mode)
    results['checksum'] = results['previous_checksum']
    if code == EXIT_TEST_FAILED:
        message = ('nginx -t in container %s refused the new %s, which was put back as it was: %s'
                   % (nginx.container, path, nginx_error_line(output)))
    elif code == EXIT_RELOAD_TIMEOUT:
        # The master kept its old workers: it refused the configuration at reload (a port it cannot bind, for
        # example), or it is too slow. Signal it again so that it runs the restored file in either case.
        errors = nginx.log_errors(signalled_at - 1)
        nginx.run('reload')
        message = ('nginx in container %s did not start new workers within %s s of the reload (old workers still active: '
                   '%s); %s was put back as it was and nginx reloaded with it%s'
                   % (nginx.container, reload_timeout, found.get('left', '').strip() or 'none', path,
                      (': ' + errors[-1]) if errors else '. Look at the container log'))
    elif code in (EXIT_NO_MASTER, EXIT_SIGNAL_FAILED):
        message = ('could not reload nginx in container %s (%s); %s was put back as it was'
                   % (nginx.container, found.get('error') or 'no master process', path))
    else:
        message = ('the switch script failed in container %s (exit code %s: %s); %s was put back as it was. The image '
                   'needs sh, tr, sleep and nginx' % (nginx.container, code, one_line(output)[:300], path))
    results['changed'] = False
    error = NginxConfigError(message)
    error.results = results
    raise error


def run_module(client):
    """The module ``hna.cloudos.nginx_config`` with ``client`` (a ``DockerClient`` built with :func:`argument_spec`)."""
    module = client.module
    params = client.params
    started = time.monotonic()
    started_at = time.time()
    try:
        mode = parse_mode(params['mode'])
    except ValueError as exc:
        client.fail('%s: give mode as an octal string, for example "0644".' % exc)
    path = params['path']
    if not os.path.isabs(path):
        client.fail('path %s is not absolute: give the absolute path of the file on the host of the container.' % path)
    if params['state'] == 'present' and params['content'] is None:
        client.fail('content is required with state=present: give the configuration text.')
    if params['reload_timeout'] <= 0:
        client.fail('reload_timeout must be a positive number of seconds, not %s.' % params['reload_timeout'])
    switch_at = params['switch_at']
    if switch_at is not None and switch_at - started_at > MAX_SWITCH_AHEAD:
        client.fail('switch_at %s is %.0f s ahead of this host\'s clock (at most %s s): give an instant computed just before '
                    'the task, in seconds since the epoch, and check that the clocks of the control node and this host agree.'
                    % (switch_at, switch_at - started_at, MAX_SWITCH_AHEAD))

    nginx = NginxContainer(client.api, params['container'], client.docker_host)
    lock = EngineLock(client.docker_host, 'nginx', params['container'], module='nginx_config',
                      timeout=params['lock_timeout'])
    try:
        with lock:
            results = switch(nginx, path, params['content'], mode, state=params['state'], check_mode=module.check_mode,
                             wait_reload=params['wait_reload'], reload_timeout=params['reload_timeout'],
                             keep_previous=params['keep_previous'], switch_at=switch_at)
    except LockError as exc:
        client.fail(str(exc))
    except NginxConfigError as exc:
        partial = dict(getattr(exc, 'results', None) or {})
        partial.pop('diff', None)
        partial['seconds'] = round(time.monotonic() - started, 3)
        partial.update(started_at=round(started_at, 3), finished_at=round(time.time(), 3))
        client.fail(str(exc), **partial)
    except OSError as exc:
        client.fail('cannot write %s: %s' % (path, exc.strerror or exc))
    if not module._diff:
        results.pop('diff', None)
    results['seconds'] = round(time.monotonic() - started, 3)
    results.update(started_at=round(started_at, 3), finished_at=round(time.time(), 3))
    module.exit_json(**results)


def argument_spec():
    """The module's own options (the connection options are added by ``DockerClient``)."""
    return dict(
        container=dict(type='str', required=True),
        path=dict(type='path', required=True),
        content=dict(type='str'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        mode=dict(type='raw', default='0644'),
        keep_previous=dict(type='bool', default=True),
        wait_reload=dict(type='bool', default=True),
        reload_timeout=dict(type='float', default=10.0),
        lock_timeout=dict(type='int', default=60),
        switch_at=dict(type='float'),
    )
