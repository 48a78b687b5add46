"""The environment of a data-parallel job: SLURM's layout, TF_CONFIG, Horovod's ranks, LR scaling.

What a strategy *is* (set-up, training, optimizer, callbacks per rank) lives in
``workbench.strategies``, one object per strategy; this module holds what they share:

* ``tf_config_from_slurm``: one multi-worker worker per SLURM task, no ``scontrol`` needed;
* ``horovod_env_from_slurm`` and ``horovod_rendezvous``: ranks started by ``srun`` instead of
  ``horovodrun`` (the rendezvous is the part of ``horovodrun`` that ``srun`` lacks);
* ``scaled_learning_rate`` and ``warmup_schedule``: the linear scaling rule with warm-up
  (Goyal et al. 2017), because the global batch grows with the number of replicas.
"""

from __future__ import annotations

import os
import re

from workbench import settings
from workbench.errors import WorkbenchError

WORKER_PORT_BASE = 20000  # multi-worker gRPC ports: base + (job id % 10000) * 8 + local task


class DistributionError(WorkbenchError, RuntimeError):
    """A strategy that cannot be set up here; the message says why and what to do."""


# --------------------------------------------------------------------------- SLURM environment


def expand_hostlist(hostlist: str) -> list[str]:
    """Expand a SLURM host list such as ``gpu[01-03,07],login1`` (no ``scontrol`` needed)."""
    hosts = []
    for match in re.finditer(r"([^,\[]+)(?:\[([^\]]+)\])?", hostlist):
        prefix, ranges = match.group(1), match.group(2)
        if ranges is None:
            hosts.append(prefix)
            continue
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            for number in range(int(low), int(high or low) + 1):
                hosts.append(f"{prefix}{number:0{len(low)}d}")
    return hosts


def expand_tasks_per_node(spec: str) -> list[int]:
    """``2(x3),1`` -> ``[2, 2, 2, 1]`` (SLURM_TASKS_PER_NODE's compact form)."""
    counts = []
    for part in spec.split(","):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if not match:
            raise DistributionError(f"cannot parse SLURM_TASKS_PER_NODE={spec!r}")
        counts += [int(match.group(1))] * int(match.group(2) or 1)
    return counts


def slurm_layout(env: dict[str, str], step: bool = True) -> tuple[list[str], list[int]]:
    """The node names and tasks per node of this job (or of this ``srun`` step)."""
    nodes = (step and env.get("SLURM_STEP_NODELIST")) or env["SLURM_JOB_NODELIST"]
    tasks = (step and env.get("SLURM_STEP_TASKS_PER_NODE")) or env["SLURM_TASKS_PER_NODE"]
    return expand_hostlist(nodes), expand_tasks_per_node(tasks)


def tf_config_from_slurm(env: dict[str, str] | None = None) -> dict:
    """The TF_CONFIG of this SLURM task: one worker per task, ports unique per job and task."""
    env = dict(os.environ if env is None else env)
    try:
        hosts, per_node = slurm_layout(env)
        rank = int(env["SLURM_PROCID"])
    except KeyError as missing:
        raise DistributionError(
            f"--strategy multiworker needs SLURM's task environment ({missing.args[0]} is unset): "
            "start it with `srun` inside a job (see slurm/multiworker.sbatch), or set TF_CONFIG yourself."
        ) from None
    base = WORKER_PORT_BASE + (int(env.get("SLURM_JOB_ID", "0")) % 5000) * 8
    workers = [f"{host}:{base + local}" for host, count in zip(hosts, per_node, strict=False)
               for local in range(count)]
    return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}}


# --------------------------------------------------------------------------- learning rate


def scaled_learning_rate(base: float, replicas: int) -> float:
    """The linear scaling rule: k replicas see a k-times larger batch, so take k-times larger steps."""
    return base * replicas


def warmup_schedule(base: float, replicas: int, warmup_steps: int):
    """Linear warm-up from ``base`` to ``base * replicas`` over ``warmup_steps``, then constant.

    Large scaled rates diverge in the first steps, while the weights are random; ramping up
    avoids that (Goyal et al. 2017, "Accurate, large minibatch SGD").
    """
    import keras

    target = scaled_learning_rate(base, replicas)
    if warmup_steps <= 0 or replicas == 1:
        return target
    # A polynomial "decay" of power 1 from base to a larger target is exactly a linear ramp,
    # and it stays at the target afterwards; being a built-in schedule, checkpoints reload it.
    return keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=base, decay_steps=warmup_steps, end_learning_rate=target, power=1.0)


def cosine_schedule(base: float, replicas: int, warmup_steps: int, total_steps: int):
    """A linear warm-up from a tenth of the scaled rate to the scaled rate over ``warmup_steps``,
    then a cosine decay to zero at ``total_steps``.

    The fast recipes' schedule: a large batch trains well at a large rate early and needs a small
    one late to settle (Loshchilov and Hutter 2017, "SGDR"); the warm-up keeps a large rate from
    throwing the random first weights far off (measured: without it, batch 256 at 0.2 reached
    0.976 or 0.979 after 3 epochs for two seeds of three, 0.987 for the third). Keras' own
    ``CosineDecay``, so a checkpoint reloads it and a resumed run continues on the same curve.
    """
    import keras

    target = scaled_learning_rate(base, replicas)
    warmup_steps = max(0, min(warmup_steps, total_steps - 1))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=target / 10 if warmup_steps else target,
        decay_steps=max(total_steps - warmup_steps, 1), alpha=0.0,
        warmup_target=target if warmup_steps else None, warmup_steps=warmup_steps)


def horovod_hosts(env: dict[str, str] | None = None) -> str:
    """``host1:slots,host2:slots`` for ``horovodrun -H`` from the job's SLURM allocation."""
    hosts, slots = slurm_layout(dict(os.environ if env is None else env), step=False)
    return ",".join(f"{host}:{count}" for host, count in zip(hosts, slots, strict=True))


def horovod_env_from_slurm(env: dict[str, str] | None = None) -> dict[str, str]:
    """Horovod's per-rank variables for a rank started by ``srun`` (horovodrun sets them itself).

    Ranks follow SLURM's block distribution, which is also how Horovod's rendezvous assigns
    ``host:slots`` (see ``horovod_rendezvous``): rank r runs on the node whose tasks include r.
    """
    env = dict(os.environ if env is None else env)
    hosts, per_node = slurm_layout(env)
    node = int(env["SLURM_NODEID"])
    return {
        "HOROVOD_HOSTNAME": hosts[node],
        "HOROVOD_RANK": env["SLURM_PROCID"],
        "HOROVOD_SIZE": str(sum(per_node)),
        "HOROVOD_LOCAL_RANK": env["SLURM_LOCALID"],
        "HOROVOD_LOCAL_SIZE": str(per_node[node]),
        "HOROVOD_CROSS_RANK": str(node),
        "HOROVOD_CROSS_SIZE": str(len(per_node)),
    }


def rendezvous_address(nodes_in_job: int) -> tuple[str, str]:
    """The address (and its network interface) at which the other nodes of the job reach this one.

    ``WORKBENCH_HOROVOD_IFACE`` names the interface outright (e.g. ``ib0`` where the node's name
    points at a management network); otherwise it is the address the node's own name resolves to.
    A name resolving to loopback reaches nobody else: for a job on several nodes that is an error.
    """
    import socket

    import psutil

    interfaces = {name: [a.address for a in found if a.family == socket.AF_INET]
                  for name, found in psutil.net_if_addrs().items()}
    shown = ", ".join(f"{name} {' '.join(addresses)}" for name, addresses in interfaces.items() if addresses)
    iface = settings.horovod_iface()
    if iface:
        if not interfaces.get(iface):
            raise DistributionError(f"WORKBENCH_HOROVOD_IFACE={iface}: node {socket.gethostname()} has no "
                                    f"IPv4 address on that interface; its interfaces: {shown}")
        return interfaces[iface][0], iface
    hostname = socket.gethostname()
    address = socket.gethostbyname(hostname)
    if address.startswith("127.") and nodes_in_job > 1:
        raise DistributionError(
            f"this node's name {hostname!r} resolves to {address}, a loopback address the other "
            f"{nodes_in_job - 1} node(s) of the job cannot reach. Set WORKBENCH_HOROVOD_IFACE in "
            f"slurm/site.sh to the interface the nodes reach each other on (this node has: {shown}).")
    iface = next((name for name, addresses in interfaces.items() if address in addresses), "lo")
    return address, iface


def horovod_rendezvous() -> tuple[int, str, str]:
    """Start Horovod's Gloo rendezvous server for this job's tasks; return (port, address, iface).

    This is the part of ``horovodrun`` that ``srun`` lacks: with it, ``srun`` can start the ranks
    directly, one task per GPU, on every node of the job.
    """
    from horovod.runner.common.util.hosts import get_host_assignments, parse_hosts
    from horovod.runner.http.http_server import RendezvousServer

    hosts = horovod_hosts()
    address, iface = rendezvous_address(len(hosts.split(",")))
    server = RendezvousServer(False)
    port = server.start()
    server.init(get_host_assignments(parse_hosts(hosts), int(os.environ["SLURM_NTASKS"])))
    return port, address, iface


def _main(argv: list[str]) -> None:
    """``python -m workbench.distribute horovod-hosts|horovod-rendezvous`` for slurm/horovod.sbatch."""
    if argv == ["horovod-hosts"]:
        print(horovod_hosts())
    elif argv == ["horovod-rendezvous"]:
        import sys
        import time

        try:
            port, address, iface = horovod_rendezvous()
        except DistributionError as error:
            print(f"workbench: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        print(f"HOROVOD_GLOO_RENDEZVOUS_ADDR={address} HOROVOD_GLOO_RENDEZVOUS_PORT={port} "
              f"HOROVOD_GLOO_IFACE={iface} HOROVOD_CONTROLLER=gloo HOROVOD_CPU_OPERATIONS=gloo", flush=True)
        while True:  # serve until the job script stops us
            time.sleep(3600)
    else:
        raise SystemExit("usage: python -m workbench.distribute horovod-hosts|horovod-rendezvous")


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
