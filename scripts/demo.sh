#!/usr/bin/env bash
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
#
# The fake-hardware demo, end to end (after scripts/setup.sh): the so100 graph (fake_robot,
# policy_node, executor_node, rollout_recorder) runs for a bounded time through pi0fast-bringup,
# records one MCAP bag per rollout under runs/, plots each bag and traces a few commands back to
# their observation, then prints where everything is.
#
# Environment:
#   PI0FAST_DEMO_CHECKPOINT   pi0_fast checkpoint directory (default: the demo checkpoint below;
#                             without it, a tiny scripted random checkpoint is made)
#   PI0FAST_DEMO_INSTRUCTION  instruction (default: wave)
#   PI0FAST_DEMO_SECONDS      how long the graph runs (default: 45)
#   PI0FAST_VENV              the environment scripts/setup.sh built (default: <repo>/.venv)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# The trained demo checkpoint (a tiny model that waves / reaches / goes home on the fake arm).
DEFAULT_CHECKPOINT="$REPO/demo/so100_synthetic"
CHECKPOINT="${PI0FAST_DEMO_CHECKPOINT:-$DEFAULT_CHECKPOINT}"
INSTRUCTION="${PI0FAST_DEMO_INSTRUCTION:-wave}"
SECONDS_TO_RUN="${PI0FAST_DEMO_SECONDS:-45}"

say() { printf '[demo] %s\n' "$*"; }

bash scripts/build.sh
# shellcheck disable=SC1091
source scripts/env.sh
RUN="$REPO/runs/demo_$(date +%Y%m%d_%H%M%S)"
mkdir -p "$RUN/logs"

if [ ! -f "$CHECKPOINT/config.json" ]; then
  if [ -n "${PI0FAST_DEMO_CHECKPOINT:-}" ]; then
    say "ERROR: PI0FAST_DEMO_CHECKPOINT=$CHECKPOINT is not a checkpoint directory" >&2
    exit 1
  fi
  CHECKPOINT="$RUN/scripted_checkpoint"
  say "no trained demo checkpoint at $DEFAULT_CHECKPOINT: making a tiny scripted random"
  say "checkpoint (it emits one fixed chunk whatever it sees) at $CHECKPOINT"
  python - "$CHECKPOINT" <<'PY'
import sys
import numpy as np
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
# Made-up statistics in the middle of the SO-100 ranges, so the fixed chunk is a visible pose.
stats = {k: {'mean': np.array([0.0, 10.0, 20.0, 20.0, 0.0, 50.0]), 'std': np.full(6, 25.0)}
         for k in ('action', 'observation.state')}
make_random_checkpoint(sys.argv[1], seed=0, cameras=('front', 'wrist'), chunk_size=30,
                       scripted=True, stats=stats)
PY
fi

say "running the so100 graph with fake hardware for ${SECONDS_TO_RUN} s"
say "checkpoint $CHECKPOINT, instruction '$INSTRUCTION' (node logs: $RUN/logs)"
status=0
set +e
python -m pi0fast_ros.tools.bringup --config config/so100.yaml --fake-hardware \
  --checkpoint "$CHECKPOINT" --instruction "$INSTRUCTION" --record "$RUN" \
  --duration "$SECONDS_TO_RUN" --exit-on-node-failure --log-dir "$RUN/logs" --quiet \
  2>&1 | tee "$RUN/logs/bringup.log"
status=${PIPESTATUS[0]}
set -e

# Why each node that exited badly did so: the last error lines of its log, on the terminal.
failure_reasons() {
  local node code log lines
  while read -r node code; do
    log="$RUN/logs/$node.log"
    say "$node exited with code $code; the end of its log ($log):"
    lines="$(grep -iE 'error|fatal|traceback|exception|refus' "$log" 2>/dev/null | tail -n 6)"
    [ -n "$lines" ] || lines="$(tail -n 6 "$log" 2>/dev/null)"
    printf '%s\n' "${lines:-(no log)}" | sed 's/^/[demo]   /'
  done < <(sed -n 's/^\[bringup\] \([A-Za-z0-9_]*\) exited with code \(-\{0,1\}[0-9]*\)$/\1 \2/p' \
             "$RUN/logs/bringup.log" | awk '$2 != 0 && $2 != -2 && $2 != 130')
}
if [ "$status" -ne 0 ]; then
  say "ERROR: the graph did not run cleanly (exit status $status)" >&2
  failure_reasons >&2
  # A recorder that died leaves its bag unfinished: rebuild it so that it can be plotted.
  python -m pi0fast_ros.tools.recover_bag "$RUN" | sed 's/^/[demo] /' || true
fi

shopt -s nullglob
bags=("$RUN"/rollout_*/)
if [ "${#bags[@]}" -eq 0 ]; then
  say "ERROR: no rollout was recorded under $RUN" >&2
  exit 1
fi
for bag in "${bags[@]}"; do
  bag="${bag%/}"
  if python -m pi0fast_ros.tools.plot_rollout "$bag" -o "$bag.png" >/dev/null; then
    say "plot: $bag.png"
  fi
  # Commands from the middle of the rollout (the arm moving), and the last one.
  say "provenance of a few recorded commands:"
  python -m pi0fast_ros.tools.provenance "$bag" --moving 3 --index -1 \
    | sed 's/^/[demo]   /' || true
  say "bag:  $bag"
done
exit "$status"
