# Copyright 2026 The pi0fast_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
The envelope of plausible values of a feature, from the checkpoint's own dataset statistics.

A checkpoint's normalizer files hold ``<feature>.<stat>`` statistics of its training data
(pi0fast-facts §5): mean, std, min, max, q01, q99, count. The envelope of a feature (the
policy-space joint state before normalization, or the unnormalized action chunk before the
robot adapters) is the data range ``[lo, hi]`` (min/max, else q01/q99) widened on both sides by
``margin x (hi - lo)``. It exists even when the user configured no limits: a value outside it
is far from anything the policy was trained on, and is refused, never clamped or acted on.

A joint that never moved in the data (``hi == lo``) says nothing about how far it may move:
it is widened by ``margin x`` the widest range of the feature instead, and the caller warns.
"""

import dataclasses
import json

import numpy as np

STAT_PAIRS = {'minmax': ('min', 'max'), 'quantiles': ('q01', 'q99')}
SOURCES = ('auto', 'minmax', 'quantiles', 'none')
MAX_LISTED = 3  # violations named in one message


class EnvelopeError(ValueError):
    """The statistics cannot give an envelope, or an envelope message is malformed."""


@dataclasses.dataclass(frozen=True, eq=False)
class Envelope:
    """Per-joint bounds ``lower <= x <= upper`` (float64 [D]) with a description."""

    names: tuple
    lower: np.ndarray
    upper: np.ndarray
    source: str

    def __post_init__(self):
        lower = np.array(self.lower, dtype=np.float64)
        upper = np.array(self.upper, dtype=np.float64)
        dim = len(self.names)
        if lower.shape != (dim,) or upper.shape != (dim,):
            raise EnvelopeError(f'envelope needs {dim} lower and upper bounds, got '
                                f'{lower.shape} and {upper.shape}')
        if np.isnan(lower).any() or np.isnan(upper).any() or np.any(lower > upper):
            raise EnvelopeError(f'envelope bounds must be ordered numbers, got lower '
                                f'{lower.tolist()} upper {upper.tolist()}')
        object.__setattr__(self, 'names', tuple(self.names))
        object.__setattr__(self, 'lower', lower)
        object.__setattr__(self, 'upper', upper)

    def violations(self, values, columns=None):
        """
        Return '' when every row of ``values`` ([D] or [H, D]) lies inside, else what does not.

        ``columns``: bool [D] of the joints to check (default all). NaN is a violation.
        """
        values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        inside = (values >= self.lower) & (values <= self.upper)
        if columns is not None:
            inside |= ~np.asarray(columns, dtype=bool)
        if inside.all():
            return ''
        bad_cols = np.flatnonzero(~inside.all(axis=0))
        listed = []
        for col in bad_cols[:MAX_LISTED].tolist():
            rows = np.flatnonzero(~inside[:, col])
            value = values[rows[0], col]
            side = (f'< {self.lower[col]:.6g}' if value < self.lower[col]
                    else f'> {self.upper[col]:.6g}')
            where = (f' (point {rows[0]}; {len(rows)} of {len(values)} points)'
                     if len(values) > 1 else '')
            listed.append(f'{self.names[col]} = {value:.6g} {side}{where}')
        more = f' (+{len(bad_cols) - MAX_LISTED} more joints)' if len(bad_cols) > MAX_LISTED \
            else ''
        return '; '.join(listed) + more + f' [envelope: {self.source}]'

    def to_json(self):
        """Serialize (the payload of the action_envelope topic)."""
        return json.dumps({'joint_names': list(self.names), 'lower': self.lower.tolist(),
                           'upper': self.upper.tolist(), 'source': self.source})

    @classmethod
    def from_json(cls, text, names):
        """Parse ``to_json`` output; columns are reordered to ``names`` (all must be there)."""
        try:
            doc = json.loads(text)
            got = [str(n) for n in doc['joint_names']]
            lower = [float(v) for v in doc['lower']]
            upper = [float(v) for v in doc['upper']]
            source = str(doc.get('source', ''))
        except (ValueError, TypeError, KeyError) as exc:
            raise EnvelopeError(f'malformed envelope message: {exc}') from None
        if sorted(got) != sorted(names) or len(set(got)) != len(got) or \
                len(lower) != len(got) or len(upper) != len(got):
            raise EnvelopeError(f'envelope joints {got} (with {len(lower)} / {len(upper)} '
                                f'bounds) do not match the action joints {list(names)}')
        order = [got.index(n) for n in names]
        return cls(tuple(names), np.asarray(lower)[order], np.asarray(upper)[order], source)


def _pair(key, stats, which):
    # (lo, hi, names of the stats) or an EnvelopeError saying what is missing.
    pairs = ['minmax', 'quantiles'] if which == 'auto' else [which]
    for pair in pairs:
        lo_name, hi_name = STAT_PAIRS[pair]
        if lo_name in stats and hi_name in stats:
            return stats[lo_name], stats[hi_name], f'{lo_name}/{hi_name}'
    wanted = ' or '.join('/'.join(STAT_PAIRS[p]) for p in pairs)
    raise EnvelopeError(f'{key}: the checkpoint statistics have no {wanted} (only '
                        f'{sorted(stats)}): no envelope can be derived')


def envelope_from_stats(key, stats, names, margin, which):
    """
    Build the Envelope of feature ``key`` from its stats dict ``{stat: array-like [D]}``.

    Returns ``(envelope, warnings)``; raises EnvelopeError when the statistics lack the bounds,
    have the wrong length, are not finite or are reversed.
    """
    if which not in STAT_PAIRS and which != 'auto':
        raise EnvelopeError(f'envelope statistics must be one of {SOURCES[:-1]}, got {which!r}')
    if not margin >= 0.0:
        raise EnvelopeError(f'envelope margin must be >= 0, got {margin}')
    lo, hi, used = _pair(key, stats, which)
    lo = np.asarray(lo, dtype=np.float64).reshape(-1)
    hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    if lo.shape != (len(names),) or hi.shape != (len(names),):
        raise EnvelopeError(f'{key}: {used} statistics have {lo.size} / {hi.size} values, '
                            f'expected {len(names)}')
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or np.any(lo > hi):
        raise EnvelopeError(f'{key}: {used} statistics are not finite and ordered: '
                            f'{lo.tolist()} / {hi.tolist()}')
    width = hi - lo
    if not np.any(width > 0):
        raise EnvelopeError(f'{key}: {used} statistics span nothing (every joint constant): '
                            'no envelope can be derived')
    flat = width <= 0
    pad = margin * np.where(flat, width.max(), width)
    warnings = []
    if flat.any():
        flat_names = [n for n, f in zip(names, flat) if f]
        warnings.append(f'{key}: joints {flat_names} never moved in the data ({used} equal); '
                        f'their envelope is widened by {margin:g} x the widest range')
    source = f'{key} {used} of the checkpoint, margin {margin:g}'
    return Envelope(tuple(names), lo - pad, hi + pad, source), warnings


def limits_envelope(names, lower, upper, margin):
    """
    Build the Envelope of configured joint limits: each finite pair widened by ``margin``.

    Returns ``(envelope, columns)``: columns (bool [D]) marks the joints with both limits
    finite; the other joints get +-inf and are not bounded by this envelope.
    """
    dim = len(names)
    lo = np.full(dim, -np.inf) if not len(lower) else \
        np.broadcast_to(np.asarray(lower, dtype=np.float64), (dim,))
    hi = np.full(dim, np.inf) if not len(upper) else \
        np.broadcast_to(np.asarray(upper, dtype=np.float64), (dim,))
    columns = np.isfinite(lo) & np.isfinite(hi)
    pad = np.where(columns, margin * (hi - lo), 0.0)
    lo = np.where(columns, lo - pad, -np.inf)
    hi = np.where(columns, hi + pad, np.inf)
    return Envelope(tuple(names), lo, hi, f'joint_limits, margin {margin:g}'), columns


def checkpoint_envelopes(checkpoint_dir, state_names, action_names, margin, which,
                         relative=None):
    """
    Return ``(state envelope, action envelope, warnings)`` from a checkpoint's stats files.

    The state statistics come from the preprocessor's normalizer file, the action statistics
    from the postprocessor's (the files the policy normalizes with). relative: the policy's
    relative_actions.RelativeActions (LeRobot >= 0.5.1), whose action statistics are those of
    action - state: the envelope of the absolute chunk is then the sum of the two envelopes on
    the relative joints. Raises EnvelopeError (or normalize.NormalizerError for unreadable
    files).
    """
    from ..policy.normalize import load_step, POSTPROCESSOR, PREPROCESSOR
    _, pre = load_step(checkpoint_dir, *PREPROCESSOR)
    _, post = load_step(checkpoint_dir, *POSTPROCESSOR)
    state, w1 = envelope_from_stats('observation.state', pre.get('observation.state', {}),
                                    state_names, margin, which)
    action, w2 = envelope_from_stats('action', post.get('action', {}), action_names, margin,
                                     which)
    if relative is not None:
        action = absolute_envelope(action, state, relative.mask)
    return state, action, w1 + w2


def absolute_envelope(delta, state, mask):
    """Envelope of state + delta on the joints where mask is True (relative actions)."""
    mask = np.asarray(mask, dtype=bool)
    dim = len(mask)
    lower = delta.lower + np.where(mask, state.lower[:dim], 0.0)
    upper = delta.upper + np.where(mask, state.upper[:dim], 0.0)
    return Envelope(delta.names, lower, upper, f'{delta.source}, plus the observation.state '
                    'envelope on the relative joints')
