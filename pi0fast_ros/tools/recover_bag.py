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
pi0fast-recover-bag PATH [PATH ...] [--discard-original]: finish rollout bags cut off by a crash.

Each PATH is a bag directory or a directory of them (the recorder's output_dir). Every
unfinished bag found (an MCAP file, no metadata.yaml, not locked by a live recorder) is rebuilt
from its complete chunks; see recording/recover.py. The recorder does the same for its
output_dir at start-up unless `recover_unfinished` is false.

Exit status: 0 when every unfinished bag found was recovered (or none was found), 1 when any
could not be, 2 on a usage error (a PATH that is not a directory).
"""

import argparse
import os
import sys

from ..recording.recover import BagRecoveryError, find_unfinished, recover_bag


def main(argv=None):
    parser = argparse.ArgumentParser(prog='pi0fast-recover-bag', description=__doc__.split(
        '\n\n')[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('paths', nargs='+', metavar='PATH')
    parser.add_argument('--discard-original', action='store_true',
                        help='delete the unfinished MCAP file after a successful recovery '
                        '(default: keep it as <name>.mcap.unfinished)')
    args = parser.parse_args(argv)
    missing = [root for root in args.paths if not os.path.isdir(root)]
    for root in missing:
        print(f'pi0fast-recover-bag: {root}: ' + ('not a directory' if os.path.exists(root)
                                                  else 'no such file or directory'),
              file=sys.stderr)
    if missing:
        return 2
    failed = found = 0
    for root in args.paths:
        bags = find_unfinished(root)
        if not bags:
            print(f'{root}: no unfinished bag')
        for bag in bags:
            found += 1
            try:
                report = recover_bag(bag, keep_original=not args.discard_original)
            except (BagRecoveryError, OSError) as exc:
                failed += 1
                print(f'{bag}: not recovered: {exc}', file=sys.stderr)
                continue
            kept = f'; original kept as {report.original.name}' if report.original else ''
            print(f'{bag}: recovered {report.summary()}{kept}')
    if found > 1:
        print(f'{found - failed} of {found} unfinished bags recovered')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
