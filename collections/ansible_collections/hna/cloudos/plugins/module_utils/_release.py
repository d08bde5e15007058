# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Release bundles and the release ledger: pure logic, no I/O.

A *bundle* is the immutable description of one version of an application in one environment: the image by
digest, its environment, its container options and its load-balancer settings. Its ``fingerprint`` is the
sha256 of the canonical JSON of that content, so that the same version can be stored again (nothing changes)
but never with other content.

The *ledger* of an application in an environment says which version is current, which is previous, which are
retained (their containers may still run, each on its own slot) and what happened (the history, with the
result of every host). Every change returns a new ledger with ``generation`` one higher; the copies of the
ledger on several hosts are compared by generation and the highest wins.

Every function takes the current time as text when it needs it, so that tests decide the clock.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re

FORMAT = 1
ACTIONS = ('release', 'rollback', 'finish', 'abort', 'abtest', 'promote')
# Actions whose version gets (or keeps) a slot: its containers run.
RETAINING_ACTIONS = ('release', 'rollback', 'abtest', 'promote')
# Actions shown as <from version>-><version> in the table.
MOVING_ACTIONS = ('release', 'rollback', 'abtest', 'promote')
AB_STATES = ('running', 'promoted', 'aborted')
RESULTS = ('ok', 'failed', 'running')
STEP_RESULTS = ('ok', 'failed', 'skipped', 'running')
BUNDLE_CONTENT = ('format', 'app', 'environment', 'version', 'image', 'env', 'run', 'lb')

_NAME_RE = re.compile(r'^[a-z][a-z0-9-]{0,62}$')
_VERSION_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
_IMAGE_RE = re.compile(r'^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$')
_WHAT = {
    'app': 'an application name: lower-case letters, digits and "-", starting with a letter, at most 63 characters',
    'environment': 'an environment name: lower-case letters, digits and "-", starting with a letter, at most 63 characters',
    'version': 'a version: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters',
}


class ReleaseError(Exception):
    """Bad input or an impossible change; the message is one line naming the input and what to do."""


# -- Names ----------------------------------------------------------------------------------------------------

def validate_name(kind, value):
    """Return ``value`` (text) if it is a valid ``kind`` (``app``, ``environment`` or ``version``)."""
    text = '' if value is None else str(value)
    pattern = _VERSION_RE if kind == 'version' else _NAME_RE
    if not pattern.match(text):
        raise ReleaseError('%s %s is not %s.' % (kind, json.dumps(text), _WHAT[kind]))
    return text


def validate_image(image):
    """Return ``image`` if it names an image by digest (``<repository>@sha256:<64 hex digits>``)."""
    text = '' if image is None else str(image)
    if not _IMAGE_RE.match(text):
        raise ReleaseError('image %s is not pinned by digest: give it as <repository>@sha256:<digest> (a tag can move, '
                           'a bundle must not).' % json.dumps(text))
    return text


# -- Bundles --------------------------------------------------------------------------------------------------

def canonical_json(document):
    """Return the canonical JSON of ``document`` as bytes: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')


def fingerprint(bundle):
    """Return the sha256 (hex) of the canonical JSON of the content of ``bundle`` (not its creation details)."""
    content = dict((key, bundle.get(key)) for key in BUNDLE_CONTENT)
    return hashlib.sha256(canonical_json(content)).hexdigest()


def build_bundle(app, environment, version, image, env=None, run=None, lb=None, created=None, created_by=None):
    """Return a complete bundle (with its fingerprint) after checking every part."""
    env = dict(env or {})
    for key, value in env.items():
        if not isinstance(value, str):
            raise ReleaseError('env %s of version %s must be text, not %s: quote it.'
                               % (json.dumps(str(key)), version, type(value).__name__))
    for name, part in (('run', run), ('lb', lb)):
        if part is not None and not isinstance(part, dict):
            raise ReleaseError('%s of version %s must be a dictionary, not %s.' % (name, version, type(part).__name__))
    bundle = {
        'format': FORMAT,
        'app': validate_name('app', app),
        'environment': validate_name('environment', environment),
        'version': validate_name('version', version),
        'image': validate_image(image),
        'env': env,
        'run': dict(run or {}),
        'lb': dict(lb or {}),
    }
    # JSON round trip: what is stored is what is fingerprinted (tuples become lists and so on).
    bundle = json.loads(canonical_json(bundle).decode('utf-8'))
    bundle['created'] = created
    bundle['created_by'] = created_by
    bundle['fingerprint'] = fingerprint(bundle)
    return bundle


def compare_bundle(stored, wanted):
    """Return True when ``stored`` has the content of ``wanted``; raise when the same version differs."""
    if stored is None:
        return False
    if stored.get('fingerprint') == wanted['fingerprint'] and fingerprint(stored) == wanted['fingerprint']:
        return True
    differing = sorted(key for key in BUNDLE_CONTENT if stored.get(key) != wanted.get(key))
    raise ReleaseError('version %s of %s already exists with other content (%s differ); use a new version.'
                       % (wanted['version'], wanted['app'], ', '.join(differing) or 'fingerprints'))


def short_image(image):
    """Return ``<last part of the repository>@<first 12 hex digits>`` of an image by digest."""
    if not image:
        return '-'
    repository, _sep, digest = str(image).partition('@')
    return '%s@%s' % (repository.rsplit('/', 1)[-1].split(':')[0], digest.split(':')[-1][:12])


# -- The ledger -----------------------------------------------------------------------------------------------

def new_ledger(app, environment):
    """Return the empty ledger (generation 0) of ``app`` in ``environment``."""
    return {'format': FORMAT, 'app': validate_name('app', app), 'environment': validate_name('environment', environment),
            'generation': 0, 'current': None, 'previous': None, 'retained': [], 'slots': {}, 'history': []}


def check_ledger(ledger, app, environment, source='the ledger'):
    """Return ``ledger`` if it is a ledger of ``app`` in ``environment`` that this code can read."""
    if not isinstance(ledger, dict):
        raise ReleaseError('%s is not a JSON object.' % source)
    if ledger.get('format') != FORMAT:
        raise ReleaseError('%s has format %s; this collection reads format %d only.' % (source, ledger.get('format'), FORMAT))
    if ledger.get('app') != app or ledger.get('environment') != environment:
        raise ReleaseError('%s belongs to %s (%s), not to %s (%s).'
                           % (source, ledger.get('app'), ledger.get('environment'), app, environment))
    if not isinstance(ledger.get('generation'), int) or ledger['generation'] < 0:
        raise ReleaseError('%s has no valid generation (a whole number).' % source)
    for key, kind in (('retained', list), ('slots', dict), ('history', list)):
        if not isinstance(ledger.get(key), kind):
            raise ReleaseError('%s has no valid %s.' % (source, key))
    return ledger


def _next(ledger):
    """Return a deep copy of ``ledger`` with the next generation."""
    result = copy.deepcopy(ledger)
    result['generation'] = ledger['generation'] + 1
    return result


def assign_slot(slots):
    """Return the lowest slot (0, 1, ...) not used in ``slots`` (version -> slot)."""
    used = set(slots.values())
    slot = 0
    while slot in used:
        slot += 1
    return slot


def retain(ledger, version):
    """Add ``version`` to the retained versions of ``ledger`` (in place) with a free slot; return its slot."""
    if version not in ledger['retained']:
        ledger['retained'].append(version)
    if version not in ledger['slots']:
        ledger['slots'][version] = assign_slot(ledger['slots'])
    return ledger['slots'][version]


def find_entry(ledger, entry_id=None):
    """Return the history entry ``entry_id`` (default: the last one)."""
    if not ledger['history']:
        raise ReleaseError('the ledger of %s (%s) has no history yet: begin an action first.'
                           % (ledger['app'], ledger['environment']))
    if entry_id is None:
        return ledger['history'][-1]
    for entry in ledger['history']:
        if entry['id'] == str(entry_id):
            return entry
    raise ReleaseError('the ledger of %s (%s) has no history entry %s; its last one is %s.'
                       % (ledger['app'], ledger['environment'], entry_id, ledger['history'][-1]['id']))


def begin(ledger, action, version, user, now, from_version=None, message=None):
    """Return ``(ledger, entry)``: a new ``running`` history entry for ``action`` of ``version``.

    A release or a rollback retains ``version`` (a slot for its container). An entry still ``running`` (its run
    died before it finished) is closed as ``failed`` first, with a message saying which entry superseded it.
    """
    if action not in ACTIONS:
        raise ReleaseError('action %s is not one of %s.' % (json.dumps(str(action)), ', '.join(ACTIONS)))
    version = validate_name('version', version)
    result = _next(ledger)
    entry_id = str(result['generation'])
    for entry in result['history']:
        if entry.get('result') == 'running':
            entry['result'] = 'failed'
            entry['finished'] = now
            entry['message'] = 'never finished; superseded by entry %s' % entry_id
    if action in RETAINING_ACTIONS:
        retain(result, version)
    entry = {'id': entry_id, 'action': action, 'version': version,
             'from_version': from_version if from_version is not None else result['current'],
             'started': now, 'finished': None, 'user': user, 'result': 'running',
             'failed_host': None, 'message': message, 'hosts': {}}
    result['history'].append(entry)
    return result, entry


def host_result(ledger, host, results, entry_id=None):
    """Return ``(ledger, changed)`` after recording ``results`` (step -> ok|failed|skipped|running) of ``host``."""
    if not host:
        raise ReleaseError('host must be given: the inventory name of the host whose results these are.')
    for step, value in results.items():
        if value not in STEP_RESULTS:
            raise ReleaseError('result %s of step %s on %s is not one of %s.'
                               % (json.dumps(str(value)), step, host, ', '.join(STEP_RESULTS)))
    entry = find_entry(ledger, entry_id)
    known = entry['hosts'].get(host, {})
    if all(known.get(step) == value for step, value in results.items()):
        return ledger, False
    result = _next(ledger)
    target = find_entry(result, entry['id'])
    target['hosts'].setdefault(host, {}).update(results)
    return result, True


def finish(ledger, result, now, failed_host=None, message=None, entry_id=None):
    """Return ``(ledger, changed)`` after closing a history entry with ``result`` (``ok`` or ``failed``).

    Closing it again with the same result changes nothing; with another result it is refused.
    """
    if result not in ('ok', 'failed'):
        raise ReleaseError('result %s is not ok or failed.' % json.dumps(str(result)))
    entry = find_entry(ledger, entry_id)
    if entry['result'] != 'running':
        if entry['result'] == result:
            return ledger, False
        raise ReleaseError('history entry %s (%s of version %s) is already finished as %s; begin a new action instead.'
                           % (entry['id'], entry['action'], entry['version'], entry['result']))
    updated = _next(ledger)
    target = find_entry(updated, entry['id'])
    target.update(result=result, finished=now, failed_host=failed_host if result == 'failed' else None)
    if message is not None:
        target['message'] = message
    return updated, True


def activate(ledger, version):
    """Return ``(ledger, changed)`` with ``version`` current and the version that was current previous."""
    version = validate_name('version', version)
    if ledger['current'] == version:
        return ledger, False
    if version not in ledger['retained']:
        raise ReleaseError('version %s of %s is not retained (retained: %s); begin a release or rollback of it first.'
                           % (version, ledger['app'], ', '.join(ledger['retained']) or 'none'))
    result = _next(ledger)
    if result['current'] is not None:
        result['previous'] = result['current']
    result['current'] = version
    return result, True


def forget(ledger, version):
    """Return ``(ledger, changed)`` without ``version`` among the retained versions (its slot is free again)."""
    version = validate_name('version', version)
    if version in (ledger['current'], ledger['previous']):
        raise ReleaseError('version %s of %s is the %s version and cannot be forgotten.'
                           % (version, ledger['app'], 'current' if version == ledger['current'] else 'previous'))
    if version not in ledger['retained'] and version not in ledger['slots']:
        return ledger, False
    result = _next(ledger)
    result['retained'] = [item for item in result['retained'] if item != version]
    result['slots'].pop(version, None)
    return result, True


def last_used(ledger, version):
    """Return the position of the last history entry about ``version`` (-1 when there is none)."""
    for index in range(len(ledger['history']) - 1, -1, -1):
        if ledger['history'][index].get('version') == version:
            return index
    return -1


def retention_plan(ledger, keep):
    """Return the retained versions to remove so that ``keep`` remain, oldest first.

    The current and the previous version are never removed (so more than ``keep`` remain when ``keep`` < 2);
    of the others, the most recently used ones are kept.
    """
    if not isinstance(keep, int) or keep < 1:
        raise ReleaseError('keep must be a whole number of at least 1, not %s.' % json.dumps(keep))
    protected = [version for version in (ledger['current'], ledger['previous']) if version is not None]
    others = [version for version in ledger['retained'] if version not in protected]
    others.sort(key=lambda version: (last_used(ledger, version), ledger['retained'].index(version)), reverse=True)
    room = max(0, keep - len(protected))
    return list(reversed(others[room:]))


def newest_copy(copies):
    """Return ``{'host', 'ledger', 'generation', 'stale_hosts'}`` for the copy with the highest generation.

    ``copies`` is a list of ``(host, ledger or None)`` pairs in inventory order; the first of equal generations wins.
    ``stale_hosts`` lists the hosts whose copy is older or missing.
    """
    best_host, best = None, None
    for host, ledger in copies:
        if ledger is not None and (best is None or ledger['generation'] > best['generation']):
            best_host, best = host, ledger
    generation = best['generation'] if best is not None else 0
    stale = [host for host, ledger in copies if ledger is None or ledger['generation'] < generation]
    return {'host': best_host, 'ledger': best, 'generation': generation, 'stale_hosts': stale}


def sync(local, given):
    """Return ``(ledger, changed)``: ``given`` when its generation is higher than ``local``'s, else ``local``."""
    if local is not None and given['generation'] <= local['generation']:
        return local, False
    return copy.deepcopy(given), True


def _whole(value):
    """Return ``value`` as an int when it is one or its digits as text (templated values may come as text)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def check_ab(ab, ledger):
    """Return ``ab`` (the state of an A/B test) after checking it against ``ledger``; raise naming what is wrong.

    ``{'variant', 'baseline', 'state', 'weight', 'steps', 'key', 'salt', ...}``: the variant (B) and the baseline (A)
    are versions, the variant retained; ``weight`` is the percent of the clients sent to B (0 to 100); ``steps`` the
    weights ``step`` moves through, rising; other keys (the last analysis, who and when) are kept as given.
    """
    if not isinstance(ab, dict):
        raise ReleaseError('ab must be a dictionary (the state of the A/B test), not %s.' % type(ab).__name__)
    for key in ('variant', 'baseline', 'state', 'weight', 'steps'):
        if key not in ab:
            raise ReleaseError('ab has no %s: give variant, baseline, state, weight and steps.' % key)
    ab = dict(ab)
    ab['weight'] = _whole(ab['weight'])
    if isinstance(ab['steps'], list):
        ab['steps'] = [_whole(item) for item in ab['steps']]
    variant = validate_name('version', ab['variant'])
    baseline = validate_name('version', ab['baseline'])
    if variant == baseline:
        raise ReleaseError('ab: the variant %s is the baseline itself; test another version.' % variant)
    if ab['state'] not in AB_STATES:
        raise ReleaseError('ab: state %s is not one of %s.' % (json.dumps(str(ab['state'])), ', '.join(AB_STATES)))
    weight = ab['weight']
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise ReleaseError('ab: weight %s is not a whole percent from 0 to 100.' % json.dumps(weight))
    steps = ab['steps']
    if (not isinstance(steps, list) or not steps
            or any(isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 100 for item in steps)
            or steps != sorted(set(steps))):
        raise ReleaseError('ab: steps %s must be rising whole percents from 1 to 100, for example [1, 5, 25, 50, 100].'
                           % json.dumps(steps))
    if variant not in ledger['retained']:
        raise ReleaseError('ab: the variant %s of %s is not retained (retained: %s); begin the A/B test first.'
                           % (variant, ledger['app'], ', '.join(ledger['retained']) or 'none'))
    return ab


def set_ab(ledger, ab, now):
    """Return ``(ledger, changed)`` with ``ab`` as the state of the app's A/B test (``None`` removes it).

    Nothing changes when the state is the same but for its ``updated`` time, which is set to ``now`` on a change.
    """
    if ab is not None:
        ab = json.loads(canonical_json(check_ab(ab, ledger)).decode('utf-8'))
    current = ledger.get('ab')

    def _content(state):
        return None if state is None else dict((key, value) for key, value in state.items() if key != 'updated')

    if _content(current) == _content(ab):
        return ledger, False
    result = _next(ledger)
    if ab is None:
        result.pop('ab', None)
    else:
        ab['updated'] = now
        result['ab'] = ab
    return result, True


def rollback_plan(ledger, version=None):
    """Return the plan of a rollback: ``{'version', 'from_version', 'slot'}``.

    The target is ``version`` when given (it must be retained), else the previous version.
    """
    retained = ', '.join(ledger['retained']) or 'none'
    if version is None:
        if ledger['previous'] is None:
            raise ReleaseError('%s (%s) has no previous version to roll back to; retained versions: %s.'
                               % (ledger['app'], ledger['environment'], retained))
        version = ledger['previous']
    version = validate_name('version', version)
    if version not in ledger['retained']:
        raise ReleaseError('version %s of %s (%s) is not retained, so it cannot be rolled back to; retained versions: %s.'
                           % (version, ledger['app'], ledger['environment'], retained))
    if version == ledger['current']:
        raise ReleaseError('version %s of %s (%s) is already current; name another retained version (%s).'
                           % (version, ledger['app'], ledger['environment'], retained))
    return {'version': version, 'from_version': ledger['current'], 'slot': ledger['slots'].get(version)}


# -- The table ------------------------------------------------------------------------------------------------

def _host_state(steps):
    values = list(steps.values())
    if 'failed' in values:
        return 'failed'
    if 'running' in values:
        return 'running'
    if values and all(value in ('ok', 'skipped') for value in values):
        return 'ok'
    return '-'


def host_summary(hosts, clouds=None):
    """Return one short text for the host results of an entry: per cloud (``clouds`` maps host -> cloud) or per host."""
    if not hosts:
        return '-'
    if not clouds:
        return ', '.join('%s %s' % (host, _host_state(hosts[host])) for host in sorted(hosts))
    groups = {}
    for host in sorted(hosts):
        groups.setdefault(clouds.get(host, '?'), []).append(_host_state(hosts[host]))
    parts = []
    for cloud in sorted(groups):
        states = groups[cloud]
        failed = states.count('failed')
        if failed:
            parts.append('%s %d/%d failed' % (cloud, failed, len(states)))
        else:
            state = 'ok' if all(item == 'ok' for item in states) else 'running'
            parts.append('%s %d/%d %s' % (cloud, states.count(state), len(states), state))
    return ', '.join(parts)


def table(ledger, bundles, clouds=None, limit=20):
    """Return the lines of a table of the history of ``ledger`` (newest last) with a heading line."""
    lines = ['%s (%s): current %s, previous %s, retained %s, generation %d' % (
        ledger['app'], ledger['environment'], ledger['current'] or '-', ledger['previous'] or '-',
        ' '.join('%s@%s' % (version, ledger['slots'].get(version, '?')) for version in ledger['retained']) or '-',
        ledger['generation'])]
    ab = ledger.get('ab')
    if ab:
        analysis = (ab.get('analysis') or {}).get('summary')
        lines.append('A/B test: %s (b) against %s (a), %s, weight %s%%%s%s' % (
            ab.get('variant'), ab.get('baseline'), ab.get('state'), ab.get('weight'),
            '; last analysis: %s' % analysis if analysis else '',
            '; failed check: %s' % ab['failed_check'] if ab.get('failed_check') else ''))
    rows = [('ID', 'VERSION', 'IMAGE', 'WHO', 'STARTED', 'ACTION', 'RESULT', 'HOSTS')]
    history = ledger['history'][-limit:] if limit else ledger['history']
    for entry in history:
        bundle = bundles.get(entry.get('version')) or {}
        result = entry.get('result') or '-'
        if result == 'failed' and entry.get('failed_host'):
            result = 'failed on %s' % entry['failed_host']
        version = entry.get('version') or '-'
        if entry.get('from_version') and entry.get('action') in MOVING_ACTIONS:
            version = '%s->%s' % (entry['from_version'], version)
        rows.append((entry.get('id') or '-', version, short_image(bundle.get('image')), entry.get('user') or '-',
                     entry.get('started') or '-', entry.get('action') or '-', result,
                     host_summary(entry.get('hosts') or {}, clouds)))
    widths = [max(len(str(row[column])) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        lines.append('  '.join(str(value).ljust(width) for value, width in zip(row, widths)) + '  ' + str(row[-1]))
    return lines
