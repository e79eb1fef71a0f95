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
# colcon build of the package into <repo>/install (seconds; run by setup, test and demo so that
# the installed launch/ and config/ always match the source tree).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PI0FAST_VENV:-$REPO/.venv}"
[ -x "$VENV/bin/colcon" ] || { echo "[build] no environment at $VENV: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$REPO/log"
cd "$REPO"
# shellcheck disable=SC1091
if ! (source "$VENV/bin/activate" && export AMENT_PREFIX_PATH="$VENV" \
      && colcon build --symlink-install --base-paths "$REPO" \
           --event-handlers console_cohesion- summary- >"$REPO/log/colcon-build.txt" 2>&1); then
  cat "$REPO/log/colcon-build.txt" >&2
  echo "[build] colcon build failed" >&2
  exit 1
fi
