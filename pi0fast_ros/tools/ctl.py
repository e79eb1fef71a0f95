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
pi0fast-ctl: drive a running pi0fast_ros graph from a shell (no `ros2` command needed).

    pi0fast-ctl instruction "reach left"   # publish on policy_node/instruction, then confirm
    pi0fast-ctl pause true|false           # policy_node/pause      (std_srvs/SetBool)
    pi0fast-ctl enable true|false          # executor_node/enable   (std_srvs/SetBool)
    pi0fast-ctl hold true|false            # executor_node/hold     (std_srvs/SetBool)
    pi0fast-ctl recorder start|stop        # rollout_recorder/start, /stop (std_srvs/Trigger)

The instruction is published reliable + transient-local, depth 1, which matches a volatile or a
transient-local subscription, and again every second until policy_node's `instruction`
parameter holds the text, so "done" means the policy took it. A service call prints the
node's answer. Exit status: 0 done; 1 the node answered no, or did not take the instruction;
2 usage; 3 the node or service was not there within --timeout.
"""

import argparse
import sys
import time

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_ABSENT = 0, 1, 2, 3
TRUE_WORDS = ('true', 'on', '1', 'yes')
FALSE_WORDS = ('false', 'off', '0', 'no')
SET_BOOL_SERVICES = {'pause': 'policy_node/pause', 'enable': 'executor_node/enable',
                     'hold': 'executor_node/hold'}
INSTRUCTION_TOPIC = 'policy_node/instruction'
REPUBLISH_S = 1.0


class CtlError(RuntimeError):
    """A failure with its exit status; the message says what was missing or refused."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def _bool_word(text):
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f'{text!r} is not true/false (or on/off, 1/0, yes/no)')


def _parser():
    parts = __doc__.strip().split('\n\n')
    ap = argparse.ArgumentParser(prog='pi0fast-ctl', description='\n\n'.join(parts[:2]),
                                 epilog=parts[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--namespace', '-n', default='',
                    help="the graph's namespace (as given to the launch file or bringup)")
    ap.add_argument('--timeout', type=float, default=10.0,
                    help='seconds to wait for the node / service and its answer (default 10)')
    sub = ap.add_subparsers(dest='command', required=True)
    ins = sub.add_parser('instruction', help='give policy_node a new instruction')
    ins.add_argument('text')
    for name, service in SET_BOOL_SERVICES.items():
        p = sub.add_parser(name, help=f'call {service} (std_srvs/SetBool)')
        p.add_argument('value', type=_bool_word, help='true or false')
    rec = sub.add_parser('recorder', help='start or stop a rollout bag (std_srvs/Trigger)')
    rec.add_argument('action', choices=('start', 'stop'))
    return ap


def _name(namespace, relative):
    namespace = namespace.strip('/')
    return f'/{namespace}/{relative}' if namespace else f'/{relative}'


class Ctl:
    """A short-lived rclpy node that sends one command and waits for its effect."""

    def __init__(self, namespace, timeout):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.namespace, self.timeout = namespace, timeout
        self.node = rclpy.create_node(f'pi0fast_ctl_{int(time.time() * 1e3) % 10**9}')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()

    def _spin_until(self, done, deadline):
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.executor.spin_once(timeout_sec=min(0.05, remaining))
        return True

    def _call(self, srv_type, relative, request):
        name = _name(self.namespace, relative)
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=self.timeout):
            raise CtlError(f'service {name} is not available after {self.timeout:g} s: is '
                           f'{relative.split("/")[0]} running (namespace '
                           f'{self.namespace or "/"!r}, same ROS_DOMAIN_ID)?', EXIT_ABSENT)
        future = client.call_async(request)
        if not self._spin_until(future.done, time.monotonic() + self.timeout):
            raise CtlError(f'service {name} did not answer within {self.timeout:g} s',
                           EXIT_ABSENT)
        return name, future.result()

    def set_bool(self, relative, value):
        """Call a std_srvs/SetBool service; return (exit status, text)."""
        from std_srvs.srv import SetBool
        name, answer = self._call(SetBool, relative, SetBool.Request(data=value))
        return (EXIT_OK if answer.success else EXIT_REFUSED,
                f'{name} ({str(value).lower()}): success={answer.success}, '
                f'message={answer.message!r}')

    def trigger(self, relative):
        """Call a std_srvs/Trigger service; return (exit status, text)."""
        from std_srvs.srv import Trigger
        name, answer = self._call(Trigger, relative, Trigger.Request())
        return (EXIT_OK if answer.success else EXIT_REFUSED,
                f'{name}: success={answer.success}, message={answer.message!r}')

    def instruction(self, text):
        """Publish text on policy_node/instruction; return once the policy holds it."""
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String
        if not text.strip():
            raise CtlError('the instruction is empty (to stop the robot: pi0fast-ctl pause '
                           'true, or enable false)', EXIT_USAGE)
        topic = _name(self.namespace, INSTRUCTION_TOPIC)
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        pub = self.node.create_publisher(String, topic, qos)
        deadline = time.monotonic() + self.timeout
        if not self._spin_until(lambda: self._policy_subscribes(topic)
                                and pub.get_subscription_count() > 0, deadline):
            raise CtlError(f'no policy_node subscribes to {topic} after {self.timeout:g} s: is '
                           f'it running (namespace {self.namespace or "/"!r}, same '
                           f'ROS_DOMAIN_ID)?', EXIT_ABSENT)
        # A volatile reader misses what was published before it matched us: publish again
        # every REPUBLISH_S until the policy holds the text (the same text twice is a no-op).
        held, sent = [None], [-REPUBLISH_S]

        def taken():
            if time.monotonic() - sent[0] >= REPUBLISH_S:
                pub.publish(String(data=text))
                sent[0] = time.monotonic()
            held[0] = self._policy_instruction(deadline)
            return held[0] == text

        if not self._spin_until(taken, deadline):
            raise CtlError(f'policy_node did not take the instruction within {self.timeout:g} '
                           f's (its instruction parameter is {held[0]!r}; still starting up? '
                           f'its log says "ready" when it runs; --timeout waits longer)',
                           EXIT_REFUSED)
        return EXIT_OK, f'{topic}: policy_node now runs {text!r}'

    def _policy_subscribes(self, topic):
        namespace = '/' + self.namespace.strip('/') if self.namespace.strip('/') else '/'
        return any(info.node_name == 'policy_node' and info.node_namespace == namespace
                   for info in self.node.get_subscriptions_info_by_topic(topic))

    def _policy_instruction(self, deadline):
        from rcl_interfaces.srv import GetParameters
        name = _name(self.namespace, 'policy_node/get_parameters')
        if not hasattr(self, '_params'):
            self._params = self.node.create_client(GetParameters, name)
        if not self._params.service_is_ready():
            return None
        future = self._params.call_async(GetParameters.Request(names=['instruction']))
        if not self._spin_until(future.done, deadline) or not future.result().values:
            return None
        time.sleep(0.05)   # poll gently: the policy applies the instruction in its callback
        return future.result().values[0].string_value


def run(args):
    """Run one parsed command; return (exit status, text)."""
    ctl = Ctl(args.namespace, args.timeout)
    try:
        if args.command == 'instruction':
            return ctl.instruction(args.text)
        if args.command in SET_BOOL_SERVICES:
            return ctl.set_bool(SET_BOOL_SERVICES[args.command], args.value)
        return ctl.trigger(f'rollout_recorder/{args.action}')
    finally:
        ctl.close()


def main(argv=None):
    import rclpy
    from rclpy.utilities import remove_ros_args
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(remove_ros_args(['pi0fast-ctl', *argv])[1:])
    rclpy.init(args=['pi0fast-ctl', *argv])
    try:
        code, text = run(args)
    except CtlError as exc:
        code, text = exc.code, f'error: {exc}'
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    print(f'pi0fast-ctl: {text}', file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


if __name__ == '__main__':
    sys.exit(main())
