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
# Source this file (after scripts/setup.sh) to get a shell with the venv, the ROS 2 wheels and
# the colcon-built package:   source scripts/env.sh
_pi0_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_pi0_venv="${PI0FAST_VENV:-$_pi0_repo/.venv}"
if [ ! -f "$_pi0_venv/bin/activate" ] || [ ! -f "$_pi0_repo/install/setup.bash" ]; then
  echo "[env] no environment at $_pi0_venv or no colcon build: run scripts/setup.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
# colcon's setup.bash reads unset variables: allow that while sourcing, even under `set -u`
case $- in *u*) _pi0_nounset=1; set +u ;; *) _pi0_nounset= ;; esac
# shellcheck disable=SC1091
source "$_pi0_venv/bin/activate"
# The ROS wheels set no AMENT_PREFIX_PATH; without it get_package_share_directory fails. It
# must be exported before install/setup.bash so that venv packages stay visible.
export AMENT_PREFIX_PATH="$_pi0_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# shellcheck disable=SC1091
source "$_pi0_repo/install/setup.bash"
# The tools (pi0fast-bringup, pi0fast-ctl, ...) are also in install/pi0fast_ros/bin, which
# setup.bash put on PATH; the nodes (policy_node, ...) are only where `ros2 run` looks
# (lib/pi0fast_ros, see setup.cfg): put them on PATH too (there is no `ros2 run` here).
export PATH="$_pi0_repo/install/pi0fast_ros/lib/pi0fast_ros:$PATH"
[ -n "$_pi0_nounset" ] && set -u
# Keep DDS traffic on this machine unless the caller chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
# torch's OpenMP threads spin while they wait; on a busy 2-core machine (CI, several test
# processes and nodes at once) the spinning threads starve each other and small CPU ops run
# 10-100x slower (measured: a tiny training step 1.7 s -> 0.02 s). Passive waiting only adds
# a small wake-up latency per parallel region.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
unset _pi0_repo _pi0_venv _pi0_nounset
