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
pi0fast-export-dataset BAGS... --out DIR --config so100: rollout bags -> a LeRobot v3.0 dataset.

One episode per bag (or per run of usable frames, when stale inputs or an instruction change
split a rollout), the instruction in force as its task. Features are named as a pi0_fast
checkpoint of the config expects: observation.state, observation.images.<slot>, action.
Actions are the executor's commands mapped back through the adapters, or a teleoperation topic
(--action-source /leader/joint_states). See pi0fast_ros/recording/dataset_export.py.
"""

import argparse
import os
import sys

from .bringup import resolve_config
from ..recording.dataset_export import export_dataset, ExportOptions
from ..recording.dataset_inputs import ExportError
from ..recording.lerobot_format import CODECS, DatasetFormatError, DEFAULT_CODEC


def _parser():
    p = argparse.ArgumentParser(prog='pi0fast-export-dataset',
                                description=__doc__.split('\n')[1])
    p.add_argument('bags', nargs='+', help='rollout bag directories (with metadata.yaml)')
    p.add_argument('--out', required=True, help='dataset directory (the LeRobot root)')
    p.add_argument('--config', required=True,
                   help='config file the bags were recorded with, or an embodiment name')
    p.add_argument('--fps', type=int, default=30, help='dataset frame rate (default 30)')
    p.add_argument('--action-source', default='commands',
                   help="'commands' (executor joint_commands, default) or a JointState topic "
                        '(teleoperation leader, e.g. /leader/joint_states)')
    p.add_argument('--repo-id', default='local/pi0fast_rollouts',
                   help='dataset name recorded in the report (LeRobot repo_id)')
    p.add_argument('--task', default='', help='task text for bags without an instruction')
    p.add_argument('--max-age', type=float, default=0.1,
                   help='drop a frame whose latest camera / state / action message is older '
                        'than this many seconds (default 0.1)')
    p.add_argument('--min-frames', type=int, default=0,
                   help='shortest episode kept (default: the recorded chunk length, else 10)')
    p.add_argument('--vcodec', default=DEFAULT_CODEC, choices=sorted(CODECS),
                   help="video codec (default h264; libsvtav1 is AV1, LeRobot's own default, "
                   'but as root its threads run at SCHED_FIFO 99)')
    p.add_argument('--append', action='store_true', help='add episodes to an existing dataset')
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    config = resolve_config(args.config)
    if args.fps <= 0 or args.max_age <= 0 or args.min_frames < 0:
        sys.stderr.write('pi0fast-export-dataset: error: --fps and --max-age must be > 0\n')
        return 2
    options = ExportOptions(
        fps=args.fps, action_source=args.action_source, repo_id=args.repo_id,
        robot_type=os.path.splitext(os.path.basename(config))[0], vcodec=args.vcodec,
        max_age_s=args.max_age, min_frames=args.min_frames, task=args.task,
        append=args.append)
    try:
        report = export_dataset(args.bags, args.out, config, options)
    except (ExportError, DatasetFormatError, FileNotFoundError) as exc:
        sys.stderr.write(f'pi0fast-export-dataset: error: {exc}\n')
        return 2
    for bag in report['bags']:
        print(f"{bag['bag']}: {bag['kept_frames']} of {bag['grid_frames']} frames kept in "
              f"{bag['episodes']} episode(s); dropped {bag['dropped'] or 'none'}")
    first, stop = report['episodes_written']
    print(f'wrote episodes {first}..{stop - 1} ({report["frames_written"]} frames) to '
          f'{args.out}; report in {args.out}/pi0fast/export_report.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
