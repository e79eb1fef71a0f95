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
The identity of a checkpoint's weights: the sha256 of its weight files, streamed.

`hash_weights(dir)` reads every `*.safetensors` file of the directory (the model weights and
LeRobot's normalizer stats: everything numeric that decides the actions) in name order through
one sha256, in blocks, so memory stays flat for a multi-GB checkpoint. The same digest by hand:
`cat $(LC_ALL=C ls *.safetensors) | sha256sum`. The policy node and the recorder call it
once at start-up and log the time it took.
"""

import dataclasses
import hashlib
import pathlib
import time

BLOCK_BYTES = 8 << 20


@dataclasses.dataclass(frozen=True)
class WeightsHash:
    """The sha256 of a checkpoint's weight files and what it took to compute."""

    sha256: str          # hex digest over the files' bytes, in name order
    files: tuple         # the file names hashed
    nbytes: int          # bytes read
    seconds: float       # wall time of the hashing

    def describe(self):
        """Return a one-line summary for logs: digest, files, size and time."""
        rate = self.nbytes / self.seconds / 1e9 if self.seconds > 0 else float('inf')
        return (f'weights sha256 {self.sha256} ({", ".join(self.files)}, '
                f'{self.nbytes / 1e6:.1f} MB hashed in {self.seconds:.2f} s, {rate:.2f} GB/s)')


def weight_files(checkpoint_dir):
    """Return the checkpoint's *.safetensors files in name order; FileNotFoundError if none."""
    directory = pathlib.Path(checkpoint_dir)
    files = sorted(p for p in directory.glob('*.safetensors') if p.is_file())
    if not files:
        raise FileNotFoundError(f'no *.safetensors weight file in {directory}')
    return files


def hash_weights(checkpoint_dir, block_bytes=BLOCK_BYTES):
    """Stream the checkpoint's weight files through sha256; return a WeightsHash."""
    files = weight_files(checkpoint_dir)
    start = time.perf_counter()
    digest, nbytes = hashlib.sha256(), 0
    buffer = bytearray(block_bytes)
    view = memoryview(buffer)
    for path in files:
        with open(path, 'rb', buffering=0) as f:
            while True:
                n = f.readinto(buffer)
                if not n:
                    break
                digest.update(view[:n])
                nbytes += n
    return WeightsHash(digest.hexdigest(), tuple(p.name for p in files), nbytes,
                       time.perf_counter() - start)
