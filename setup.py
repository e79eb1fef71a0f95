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

from glob import glob
import os
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.develop import develop
from setuptools.command.install_scripts import install_scripts

PACKAGE = 'pi0fast_ros'
# The user-facing tools: entry points in lib/pi0fast_ros (where `ros2 run` looks, setup.cfg)
# and, under a colcon install, also in bin/, which colcon's setup.bash puts on PATH.
TOOLS = {
    'pi0fast-bringup': 'pi0fast_ros.tools.bringup:main',
    'pi0fast-ctl': 'pi0fast_ros.tools.ctl:main',
    'pi0fast-doctor': 'pi0fast_ros.tools.doctor:main',
    'pi0fast-export-dataset': 'pi0fast_ros.tools.export_dataset:main',
    'pi0fast-plot-rollout': 'pi0fast_ros.tools.plot_rollout:main',
    'pi0fast-provenance': 'pi0fast_ros.tools.provenance:main',
    'pi0fast-recover-bag': 'pi0fast_ros.tools.recover_bag:main',
    'pi0fast-fit-tokenizer': 'pi0fast_ros.tools.fit_tokenizer:main',
    'pi0fast-train-demo': 'pi0fast_ros.tools.train_demo:main',
}


def _version():
    # package.xml is the one place the version lives.
    with open('package.xml', encoding='utf-8') as f:
        return re.search(r'<version>([^<]+)</version>', f.read()).group(1)


# The ROS-free core (tokenizer, model engine, policy facade, blending, adapters) needs only
# these; `pip install .[core]` gives it to users without ROS. rclpy and the message packages
# come from ROS itself (apt or the ros-jazzy-* wheels) and are not pip requirements here.
CORE = ['numpy', 'scipy', 'torch', 'tokenizers', 'safetensors', 'pyyaml']
TOOLS_DEPS = ['rosbags', 'matplotlib', 'opencv-python-headless', 'pyarrow', 'av', 'pandas']


def _tools_also_in_bin(script_dir):
    """
    Copy the tools' entry scripts from <prefix>/lib/pi0fast_ros to <prefix>/bin.

    Only for an install into lib/pi0fast_ros (colcon, plain or --symlink-install); a wheel
    (pip) puts every console script in bin/ already. Returns the files written.
    """
    script_dir = os.path.abspath(script_dir)
    if os.path.basename(script_dir) != PACKAGE or \
            os.path.basename(os.path.dirname(script_dir)) != 'lib':
        return []
    bin_dir = os.path.join(os.path.dirname(os.path.dirname(script_dir)), 'bin')
    os.makedirs(bin_dir, exist_ok=True)
    written = []
    for name in TOOLS:
        source = os.path.join(script_dir, name)
        if os.path.isfile(source):
            shutil.copy2(source, os.path.join(bin_dir, name))
            written.append(os.path.join(bin_dir, name))
    return written


class InstallScripts(install_scripts):
    """`setup.py install` (colcon without --symlink-install): the tools also go to bin/."""

    def run(self):
        super().run()
        self.outfiles += _tools_also_in_bin(self.install_dir)


class Develop(develop):
    """`setup.py develop` (colcon --symlink-install): the tools also go to bin/."""

    def install_wrapper_scripts(self, dist):
        super().install_wrapper_scripts(dist)
        if not self.uninstall:
            _tools_also_in_bin(self.script_dir)


setup(
    name=PACKAGE,
    version=_version(),
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml') + glob('config/*.xml')),
    ],
    install_requires=['setuptools'],
    extras_require={'core': CORE, 'tools': CORE + TOOLS_DEPS, 'test': ['pytest']},
    zip_safe=True,
    maintainer='pi0fast_ros maintainers',
    maintainer_email='maintainers@pi0fast-ros.invalid',
    description='PI0-FAST vision-language-action policy runtime for ROS 2',
    license='Apache-2.0',
    tests_require=['pytest'],
    cmdclass={'install_scripts': InstallScripts, 'develop': Develop},
    entry_points={
        'console_scripts': [
            # ROS nodes (`ros2 run pi0fast_ros <name>`)
            'policy_node = pi0fast_ros.nodes.policy.__main__:main',
            'executor_node = pi0fast_ros.nodes.executor.__main__:main',
            'fake_robot = pi0fast_ros.nodes.fake_robot.__main__:main',
            'rollout_recorder = pi0fast_ros.nodes.recorder.__main__:main',
            # tools (also on PATH after a colcon install: see _tools_also_in_bin)
            *(f'{name} = {target}' for name, target in TOOLS.items()),
        ],
    },
)
