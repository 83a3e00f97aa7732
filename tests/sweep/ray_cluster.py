"""A Ray cluster of this test's own: `ray start --block` nodes on 127.0.0.2 (loopback, which Ray
does not rewrite to the machine's address as it does 127.0.0.1), each in its own temp folder and
process group, with a HOME of its own (so its token is the test's). Stopped by killing those
processes by id, never with the `ray` CLI's stop command, which would stop every Ray of the machine."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
GRPO = str(Path(sys.executable).with_name("grpo"))
HOST = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def processes_under(folder: Path) -> list[int]:
    """Ids of the processes whose command line names `folder` (a node's servers and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(folder).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


class Node:
    def __init__(self, name: str, folder: Path, process: subprocess.Popen):
        self.name, self.folder, self.process = name, folder, process

    def pids(self) -> list[int]:
        return sorted({self.process.pid, *processes_under(self.folder)})

    def raylet_pid(self) -> int:
        for pid in processes_under(self.folder):
            if b"raylet" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:
                return pid
        raise LookupError(f"no raylet under {self.folder}")

    def training(self) -> bool:
        """Whether a trial runs on this node now: a worker of its raylet titled as Tune's
        function trainable at work (``ray::ImplicitFunc.train``; an idle worker is ``ray::IDLE``)."""
        try:
            raylet = self.raylet_pid()
        except (LookupError, OSError):
            return False
        for entry in Path("/proc").iterdir():
            try:
                if (entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::ImplicitFunc.train")
                        and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == raylet):
                    return True
            except (OSError, IndexError, ValueError):
                pass
        return False

    def wait_until_training(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.training():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no trial started on {self.name} within {timeout} s")
            time.sleep(0.02)

    def kill(self) -> None:
        for _ in range(3):  # processes may fork while we kill
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        self.process.wait(timeout=30)


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"  # its ~/.ray/auth_token: the cluster's token
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.nodes: list[Node] = []

    def env(self, **extra) -> dict:
        """This machine's environment for the cluster's processes and drivers: its HOME, no
        Ray variables of the caller's."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_", "TUNE_"))}
        return {**env, "HOME": str(self.home), **extra}

    def generate_token(self) -> None:
        subprocess.run([RAY, "get-auth-token", "--generate"], env=self.env(), check=True, capture_output=True)

    def start_node(self, num_cpus: int, **env) -> Node:
        name = f"node{len(self.nodes)}"
        folder = self.root / name
        folder.mkdir()
        head = not self.nodes
        where = ["--head", f"--port={self.port}", "--include-dashboard=false"] if head else [f"--address={self.address}"]
        process = subprocess.Popen(
            [RAY, "start", "--block", *where, f"--node-ip-address={HOST}", f"--num-cpus={num_cpus}", f"--temp-dir={folder}",
             "--disable-usage-stats"], env=self.env(**env), start_new_session=True,
            stdout=open(self.root / f"{name}.log", "w"), stderr=subprocess.STDOUT)
        node = Node(name, folder, process)
        self.nodes.append(node)
        return node

    def wait_for_cpus(self, cpus: int, timeout: float = 90) -> None:
        """Until the cluster has `cpus` CPUs (every node joined), each node with a warm worker."""
        script = ("import logging, sys, time, ray\n"
                  "from grpo.sweep.runtime import enable_token_auth\n"  # Ray's private set-up, guarded there
                  "enable_token_auth()\n"
                  f"ray.init(address={self.address!r}, logging_level=logging.ERROR)\n"
                  f"deadline = time.monotonic() + {timeout}\n"
                  f"while ray.cluster_resources().get('CPU', 0) < {cpus} and time.monotonic() < deadline:\n"
                  "    time.sleep(0.2)\n"
                  # a worker with torch and grpo imported on every node, kept idle by its raylet:
                  # the first trial of each node starts as soon as the others
                  "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as on\n"
                  "warm = ray.remote(num_cpus=1)(lambda: __import__('grpo.core.train') and None)\n"
                  "ray.get([warm.options(scheduling_strategy=on(node['NodeID'], soft=False)).remote()\n"
                  "         for node in ray.nodes() if node['Alive']])\n"
                  f"sys.exit(ray.cluster_resources().get('CPU', 0) < {cpus})\n")
        subprocess.run([sys.executable, "-c", script], env=self.env(), check=True, capture_output=True, timeout=timeout + 60)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.kill()

    def sweep(self, *args, by_variable: bool = False) -> subprocess.Popen:
        """`grpo sweep ... --address` (or with RAY_ADDRESS set instead) from a fresh process whose
        environment has only the cluster's HOME. It runs outside the repository: Ray puts the
        driver's folder first on every worker's path, and a node must import its own grpo."""
        where = {"env": self.env(RAY_ADDRESS=self.address)} if by_variable else {"env": self.env()}
        address = [] if by_variable else ["--address", self.address]
        return subprocess.Popen([GRPO, "sweep", *args, *address, "--quiet"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=self.root, **where)
