"""The Ray runtime a sweep runs on: a private local one, or a cluster joined by address.

Without an address (``--address`` or, Ray's convention, ``RAY_ADDRESS``) the sweep starts a
runtime of its own: its own temporary folder (removed afterwards), ports chosen free, every
server on loopback, no dashboard. It never joins another runtime of the machine, whether a
``ray start --head`` or a stale ``ray_current_cluster`` file.

With an address the sweep joins that cluster: with token authentication when the cluster
uses it as Ray 2.60 sets it up (``RAY_AUTH_MODE=token``, or a token in ``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), then checks that every node runs this code
(the same fingerprint) and sees the results folder (shared storage).

The environment variables Ray sets in this process are restored when the runtime stops.
"""

import inspect
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

from grpo.errors import EnvironmentFault, LostRuntime
from grpo.experiment.provenance import code_fingerprint, plugins_of
from grpo.files import pid_alive

ADDRESS_VARIABLE = "RAY_ADDRESS"
RAY_NEEDED = "2.60.0"  # the Ray whose private token set-up enable_token_auth calls (the only one tested)
SCRATCH_PREFIX = "grpo-"  # <tmp>/grpo-<pid>-<random>/: a sweep's Ray and Tune files
HEAD_CHECK_S = 1  # how often the driver checks that a cluster's head answers
JOIN_TIMEOUT_S = 5  # how long the head of a cluster to join may take to accept a connection
HOST_PORT = re.compile(r"[^:/]+:[0-9]+")  # an address the driver can probe (not 'auto', not ray://...)
HEAD_LOST_AFTER = 3  # checks in a row without an answer: the head is gone
NODE_CHECK_TIMEOUT_S = 120


def cluster_address(address: str | None) -> str | None:
    """The cluster to join: `address`, else RAY_ADDRESS; None for a private local runtime."""
    return address or os.environ.get(ADDRESS_VARIABLE) or None


SOCKET_PATH_MAX = 103 if sys.platform == "darwin" else 107  # bytes of an AF_UNIX path, as Ray checks it
RAY_SOCKET_TAIL = "/ray/session_2026-01-01_00-00-00_000000_4194304/sockets/plasma_store.9"  # Ray's, below a scratch folder
SHORT_ROOT = Path("/tmp")  # the fallback when the temporary folder (TMPDIR) is too deep for Ray's sockets


def socket_path_bytes(root: Path) -> int:
    """The longest socket path Ray makes under a scratch folder in `root` (mkdtemp adds 8 characters)."""
    return len(os.fsencode(root / f"{SCRATCH_PREFIX}{os.getpid()}-xxxxxxxx")) + len(RAY_SOCKET_TAIL)


def scratch_root() -> Path:
    """The folder that holds scratch folders: the temporary folder (TMPDIR), or SHORT_ROOT where
    TMPDIR is so deep that Ray's socket paths would pass SOCKET_PATH_MAX (macOS's /var/folders/...,
    a SLURM job's folder); EnvironmentFault naming the fix where neither will do."""
    root = Path(tempfile.gettempdir())
    if socket_path_bytes(root) <= SOCKET_PATH_MAX:
        return root
    if SHORT_ROOT.is_dir() and os.access(SHORT_ROOT, os.W_OK | os.X_OK) and socket_path_bytes(SHORT_ROOT) <= SOCKET_PATH_MAX:
        return SHORT_ROOT
    raise EnvironmentFault(f"the temporary folder {str(root)!r} is too deep for Ray's socket paths (at most"
                           f" {SOCKET_PATH_MAX} bytes) and {SHORT_ROOT} is not writable; set TMPDIR to a short writable"
                           " folder, e.g. export TMPDIR=/tmp")


@contextmanager
def scratch_dir():
    """A folder of this process for Ray's and Tune's files (<root>/grpo-<pid>-<random>/, root
    from scratch_root), removed on exit; those of processes that are gone (a killed sweep) are
    removed on the next start."""
    root = scratch_root()
    for stale in root.glob(f"{SCRATCH_PREFIX}*"):
        pid = stale.name.removeprefix(SCRATCH_PREFIX).split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)) and stale.stat().st_uid == os.getuid():
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def ray_runtime(address: str | None, num_cpus: int | None, results_dir: Path, scratch: Path):
    """Ray, started privately in `scratch` (address None) or joined; stopped on exit. Yields the
    Driver through which the sweep's calls to Ray go."""
    saved_environment = dict(os.environ)
    on_sigterm = signal.getsignal(signal.SIGTERM)
    driver = Driver(address)
    try:
        if address is None:
            _start_private(num_cpus, scratch / "ray")
        else:
            _join(address)
        if on_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)  # Ray's client installs its own (a stack dump): ours stays
        if address is not None:
            check_nodes(results_dir)
        yield driver
    finally:
        if "ray" in sys.modules:
            import ray

            if not driver.lost:  # after a lost head Ray's shutdown waits 60 s for it (errors.LostRuntime)
                ray.shutdown()
        os.environ.clear()
        os.environ.update(saved_environment)


def _start_private(num_cpus: int | None, temp_dir: Path) -> None:
    # Ray binds its servers to the node's IP; with "clusters" off that IP is loopback. Ray reads
    # the variable when it is first imported: set here for the runtime's own processes, and for
    # a driver that imported Ray before (a notebook, a test session) its constant is set too,
    # else the node's IP is the default route's (an address of the machine's network).
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.pop(ADDRESS_VARIABLE, None)
    import ray
    from ray._private import ray_constants

    clusters, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False

    # address="local": always a new runtime, never one found on the machine
    temp_dir.mkdir()
    # The runtime's processes start with Ctrl-C ignored (an ignored signal stays ignored across
    # exec): a terminal's Ctrl-C reaches its whole process group, and a runtime killed under the
    # driver would leave it waiting 60 s for a dead GCS. The driver stops the runtime itself.
    on_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() else None
    try:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, _temp_dir=str(temp_dir))
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = clusters  # a later join from this process finds its address again
        if on_sigint is not None:
            signal.signal(signal.SIGINT, on_sigint)


def enable_token_auth() -> None:
    """What `ray start --head` does: token authentication on when RAY_AUTH_MODE is unset and a
    token exists (ray.init does this only for a cluster found on its own, not for an address).
    Ray has no public API for it: this calls a private one of Ray 2.60, and says which Ray is
    needed where that one is absent or changed."""
    import ray

    needed = EnvironmentFault(f"joining a Ray cluster needs ray {RAY_NEEDED}'s token set-up (private"
                              f" ray._private.authentication), absent or changed in ray {ray.__version__}: pip install"
                              f" 'ray[tune]=={RAY_NEEDED}'")
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    except ImportError:
        raise needed from None
    if "warn_if_disabled" not in inspect.signature(maybe_enable_token_auth_if_token_available).parameters:
        raise needed
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _join(address: str) -> None:
    import ray

    enable_token_auth()
    if HOST_PORT.fullmatch(address):  # Ray's client retries an address that does not answer for minutes: ask once first
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=JOIN_TIMEOUT_S).close()
        except OSError as error:
            raise EnvironmentFault(f"cannot join the Ray cluster at {address!r}: nothing answers there"
                                   f" ({error.strerror or type(error).__name__}); start its head first (ray start"
                                   " --head) or check the address") from None
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except Exception as error:  # noqa: BLE001 - Ray raises many types here; each means the same to the user
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EnvironmentFault(f"cannot join the Ray cluster at {address!r}: {reason}") from None


class Driver:
    """Runs the sweep's calls to Ray. On a cluster a call runs in a thread of its own while the
    main thread checks that the head answers: when it stops answering, the call is abandoned
    and LostRuntime raised in the main thread, in one line (Ray's own client would block the
    calling thread for 60 s and then abort with its log; finished trials are on disk already).
    On a private runtime a call runs in the calling thread."""

    def __init__(self, address: str | None):
        self.address = address
        # (host, port) of the cluster's head to check; None: private, or an address not to probe ('auto', ray://)
        self.head = None
        if address and HOST_PORT.fullmatch(address):
            host, _, port = address.rpartition(":")
            self.head = (host, int(port))
        self.lost = False  # the cluster's head stopped answering

    def run(self, work, *args):
        head = self.head
        if head is None:
            return work(*args)
        outcome: dict = {}
        done = threading.Event()

        def call():
            try:
                outcome["value"] = work(*args)
            except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
                outcome["error"] = error
            finally:
                done.set()

        threading.Thread(target=call, name="grpo-ray-driver", daemon=True).start()
        silent = 0
        while not done.wait(HEAD_CHECK_S):
            silent = 0 if answers(head) else silent + 1
            if silent == HEAD_LOST_AFTER:
                self.lost = True
                raise LostRuntime(f"lost the Ray cluster at {self.address!r} (its head stopped answering);"
                                  " finished trials are kept: run the same sweep again to finish")
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")


def answers(address: tuple[str, int]) -> bool:
    """Whether something accepts a connection at (host, port) within HEAD_CHECK_S."""
    try:
        socket.create_connection(address, timeout=HEAD_CHECK_S).close()
        return True
    except OSError:
        return False


def node_facts(probe: str) -> dict:
    """Run on one node: its address, the fingerprint of its grpo, what it reads at `probe`."""
    path = Path(probe)
    return {"host": socket.gethostname(), "fingerprint": code_fingerprint(),
            "sees": path.read_text() if path.is_file() else None}


def check_nodes(results_dir: Path) -> None:
    """EnvironmentFault unless every alive node runs this code and sees `results_dir`."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    probe = results_dir / f".probe-{token}"
    probe.write_text(token)
    try:
        nodes = [node for node in ray.nodes() if node["Alive"]]
        remote = ray.remote(num_cpus=0, max_retries=0)(node_facts)
        pending = {(node["NodeManagerAddress"] + " " + node["NodeID"][:8], node["NodeID"]): remote.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(str(probe))
            for node in nodes}
        for (node, node_id), reference in pending.items():
            try:
                facts = ray.get(reference, timeout=NODE_CHECK_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 - a node that cannot run grpo at all
                if not any(found["NodeID"] == node_id and found["Alive"] for found in ray.nodes()):
                    continue  # it died meanwhile: it runs no trial either
                reason = str(error).strip().splitlines()[-1]
                raise EnvironmentFault(f"node {node} cannot run grpo ({reason}); install the same grpo on every node") from None
            if facts["fingerprint"] != code_fingerprint():
                raise EnvironmentFault(f"node {node} runs grpo code {facts['fingerprint']}, this driver {code_fingerprint()};"
                                 " install the same grpo on every node")
            if facts["sees"] != token:
                raise EnvironmentFault(f"node {node} does not see --results {str(results_dir.parent)!r}; on a cluster it"
                                 " must be a folder every node shares (NFS, a shared disk)")
    finally:
        probe.unlink(missing_ok=True)


def plugins_on_node(configs: list[dict], in_process_modes: bytes) -> dict[str, dict[str, str]]:
    """Run on one node: the plugins each configuration reads there, as the driver names them
    (grpo.experiment.provenance.plugins_of), after registering the driver's in-process modes."""
    from grpo.core.config import TrainConfig
    from grpo.modes.catalogue import unpack_in_process_modes

    unpack_in_process_modes(in_process_modes)
    return {TrainConfig(**values).config_id: plugins_of(TrainConfig(**values)) for values in configs}


def check_plugins(configs: list, in_process_modes: bytes) -> None:
    """EnvironmentFault unless every alive node imports the plugin code this driver imports for
    `configs` (the same origin and code fingerprint). Ray puts the driver's working directory on
    its workers' import path, so a folder there named like a plugin's module would otherwise
    replace the plugin on the workers only."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    one_each = {tuple(sorted(plugins_of(config))): config for config in configs if plugins_of(config)}  # one a plugin set
    if not one_each:
        return
    values = [config.as_dict() for config in one_each.values()]
    expected = {config.config_id: plugins_of(config) for config in one_each.values()}
    remote = ray.remote(num_cpus=0, max_retries=0)(plugins_on_node)
    for node in [node for node in ray.nodes() if node["Alive"]]:
        where = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        try:
            found = ray.get(remote.options(scheduling_strategy=where).remote(values, in_process_modes), timeout=NODE_CHECK_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - a plugin that cannot be imported there
            reason = str(error).strip().splitlines()[-1]
            raise EnvironmentFault(f"node {node['NodeManagerAddress']} cannot import the sweep's plugins ({reason})") from None
        for key, plugins in expected.items():
            for name, origin in plugins.items():
                if found[key].get(name) != origin:
                    raise EnvironmentFault(
                        f"node {node['NodeManagerAddress']} imports plugin {name} as {found[key].get(name)}, this driver as"
                        f" {origin}: a folder named like its module in the working directory (which Ray puts on the"
                        " workers' path) or another installation; run from another folder or install the same plugin")
