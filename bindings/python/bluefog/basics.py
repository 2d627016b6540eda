# SPDX-License-Identifier: Apache-2.0
"""Process model: init/shutdown, rank and size queries, and the process topology."""
from __future__ import annotations

import atexit
import logging
import threading
from typing import Any, Callable, List, Optional

import networkx as nx

from . import topology_util
from ._native import lib
from .compression import CompressionSpec, init_fields

__all__ = [
    "init", "shutdown", "is_initialized", "size", "local_size", "rank", "local_rank",
    "machine_size", "machine_rank", "is_homogeneous", "set_topology", "load_topology",
    "is_topo_weighted", "in_neighbor_ranks", "out_neighbor_ranks", "version", "matching_mode",
    "set_machine_topology", "load_machine_topology", "is_machine_topo_weighted",
    "in_neighbor_machine_ranks", "out_neighbor_machine_ranks", "set_matching_mode",
    "mpi_threads_supported", "unified_mpi_window_model_supported", "suspend", "resume",
    "is_suspended", "cuda_device_count", "nccl_built",
]

logger = logging.getLogger("bluefog")

_NOT_INITIALIZED = "BlueFog has not been initialized; use bf.init()."

_lock = threading.RLock()
_atexit_registered = False


class _TopologyState:
    """The process topology as the caller gave it, plus the engine's copy and neighbor lists."""

    def __init__(self, graph: nx.DiGraph, capsule: Any, is_weighted: bool, rank: int) -> None:
        self.graph = graph
        self.capsule = capsule
        self.is_weighted = is_weighted
        self.in_neighbors: List[int] = list(lib.bf_topology_in_neighbors(capsule, rank)[0])
        self.out_neighbors: List[int] = list(lib.bf_topology_out_neighbors(capsule, rank)[0])


_topology: Optional[_TopologyState] = None
_machine_topology: Optional[_TopologyState] = None

_MATCHING_MODES = {"named": lib.BF_MATCHING_NAMED, "ordered": lib.BF_MATCHING_ORDERED}


def init(topology_fn: Optional[Callable[[int], nx.DiGraph]] = None, is_weighted: bool = False,
         *, nodes_per_machine: Optional[int] = None, mpi_comm: Any = None,
         matching: Optional[str] = None, stall_warning_s: Optional[float] = None,
         timeline_prefix: Optional[str] = None, fusion_threshold_bytes: Optional[int] = None,
         cycle_time_ms: Optional[float] = None, compression: CompressionSpec = None) -> None:
    """Starts BlueFog (collective over all ranks).

    Initializes MPI unless it already is (e.g. by mpi4py), then sets the topology to
    ``topology_fn(size())``, or to ``ExponentialGraph(size())`` when no function is given.
    Calling it again while initialized only sets the topology again. ``shutdown`` runs at exit.

    Args:
        topology_fn: builds the topology from the number of ranks.
        is_weighted: static neighbor_allreduce uses the topology's weights instead of uniform ones.
        nodes_per_machine: ranks per machine for local/machine queries (default: the
            BLUEFOG_NODES_PER_MACHINE environment variable, else ranks sharing memory).
        mpi_comm: an mpi4py communicator (or the integer address of an ``MPI_Comm``) to run on
            instead of MPI_COMM_WORLD; BlueFog duplicates it.
        matching: "named" (operations match by name and may be issued in any order) or
            "ordered" (global operations run in issue order, like MPI and BlueFog's
            skip-negotiate stage). Default: the BLUEFOG_MATCHING environment variable, else named.
        stall_warning_s: seconds an operation may wait before the engine reports it and the
            ranks it waits for on stderr (default: BLUEFOG_STALL_WARNING_S, else 60; < 0: never).
        timeline_prefix: write a Chrome trace to ``<prefix><rank>.json`` (default:
            BLUEFOG_TIMELINE, else none).
        fusion_threshold_bytes: fuse small neighbor messages up to this size (default:
            BLUEFOG_FUSION_THRESHOLD, else 8 MiB; < 0: no fusion).
        cycle_time_ms: how long the engine waits for more operations to fuse (default:
            BLUEFOG_CYCLE_TIME, else 0).
        compression: the compression of neighbor averaging when an operation gives none: a
            name ("none", "bf16", "fp16", "int8", "topk") or a ``Compression`` with its top-k
            ratio (default: BLUEFOG_COMPRESSION / BLUEFOG_TOPK_RATIO, else none).
    """
    global _atexit_registered
    options: dict = {}
    if nodes_per_machine is not None:
        options["nodes_per_machine"] = int(nodes_per_machine)
    if mpi_comm is not None:
        options["mpi_comm"] = _comm_address(mpi_comm)
    if matching is not None:
        if matching not in _MATCHING_MODES:
            raise ValueError(f"matching must be 'named' or 'ordered', got {matching!r}")
        options["matching_mode"] = _MATCHING_MODES[matching]
    if stall_warning_s is not None:
        options["stall_warning_s"] = float(stall_warning_s)
    if timeline_prefix is not None:
        options["timeline_prefix"] = str(timeline_prefix)
    if fusion_threshold_bytes is not None:
        options["fusion_threshold_bytes"] = int(fusion_threshold_bytes)
    if cycle_time_ms is not None:
        options["cycle_time_ms"] = float(cycle_time_ms)
    options.update(init_fields(compression))
    with _lock:
        lib.bf_init(options or None)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
    graph = topology_fn(size()) if topology_fn is not None else None
    set_topology(graph, is_weighted)


def _comm_address(comm: Any) -> int:
    if isinstance(comm, int):
        return comm
    try:
        from mpi4py import MPI  # noqa: PLC0415 (optional dependency)
    except ImportError as error:  # pragma: no cover - only without mpi4py
        raise TypeError("mpi_comm must be an mpi4py communicator or an MPI_Comm address") from error
    return int(MPI._addressof(comm))  # pylint: disable=protected-access


def shutdown() -> None:
    """Stops BlueFog: queued operations finish first, then MPI is finalized if BlueFog
    initialized it. Does nothing when BlueFog is not running (so it is safe at exit)."""
    global _topology, _machine_topology
    from . import ops, windows  # noqa: PLC0415 (they import this module)

    with _lock:
        if not lib.bf_initialized():
            return
        lib.bf_finalize()
        _topology = None
        _machine_topology = None
        ops.forget_pending()
        windows.forget_windows()


def is_initialized() -> bool:
    """True between init() and shutdown()."""
    return bool(lib.bf_initialized())


def _query(value: int) -> int:
    if value < 0:
        raise ValueError(_NOT_INITIALIZED)
    return value


def size() -> int:
    """Number of ranks."""
    return _query(lib.bf_size())


def local_size() -> int:
    """Number of ranks on this machine."""
    return _query(lib.bf_local_size())


def rank() -> int:
    """This process's rank."""
    return _query(lib.bf_rank())


def local_rank() -> int:
    """This process's rank among the ranks of its machine."""
    return _query(lib.bf_local_rank())


def machine_size() -> int:
    """Number of machines (groups of local ranks)."""
    return _query(lib.bf_machine_size())


def machine_rank() -> int:
    """This machine's index."""
    return _query(lib.bf_machine_rank())


def is_homogeneous() -> bool:
    """True if every machine has the same number of ranks and their ranks are contiguous."""
    return bool(_query(lib.bf_is_homogeneous()))


def matching_mode() -> str:
    """The matching mode in effect: "named" or "ordered"."""
    mode = _query(lib.bf_matching_mode_in_effect())
    return "ordered" if mode == lib.BF_MATCHING_ORDERED else "named"


def set_matching_mode(mode: str) -> None:
    """Switches every rank to matching ``mode`` ("named" or "ordered") at run time. Collective:
    every rank calls it, in the same place of its sequence of global operations, with the same
    mode. ValueError for another mode; RuntimeError if this rank has operations in flight or some
    rank has global operations waiting (the mode is then unchanged), or if the ranks disagree."""
    if mode not in _MATCHING_MODES:
        raise ValueError(f"matching mode must be 'named' or 'ordered', got {mode!r}")
    lib.bf_set_matching_mode(_MATCHING_MODES[mode])


def mpi_threads_supported() -> int:
    """1 if MPI runs at MPI_THREAD_MULTIPLE (so other MPI users such as mpi4py may call MPI from
    their own threads alongside BlueFog), else 0."""
    return _query(lib.bf_mpi_threads_supported())


def unified_mpi_window_model_supported() -> bool:
    """True: BlueFog-C's windows are served by its engine, which writes peers' puts and
    accumulates into the one copy of the window memory that local reads see, so the model is
    unified (MPI_WIN_UNIFIED) with every MPI library. Not collective (BlueFog's was)."""
    return _query(lib.bf_unified_mpi_window_model_supported()) == 1


def suspend() -> None:
    """Suspends this rank's engine (for interactive sessions): until ``resume()`` every operation
    raises ValueError without being queued. Queued operations finish first; the engine thread then
    sleeps, waking every 50 ms while windows exist to serve peers' window requests."""
    lib.bf_suspend()


def resume() -> None:
    """Ends ``suspend()``: operations may be issued again."""
    lib.bf_resume()


def is_suspended() -> bool:
    """True between ``suspend()`` and ``resume()``."""
    return _query(lib.bf_suspended()) == 1


def version() -> str:
    """Version of the loaded libbluefog ("major.minor.patch")."""
    code = lib.bf_get_version()
    return f"{code // 10000}.{code // 100 % 100}.{code % 100}"


def set_topology(topology: Optional[nx.DiGraph] = None, is_weighted: bool = False) -> bool:
    """Sets the process topology used by static neighbor operations (collective: every rank
    passes the same graph). ``None`` means ``ExponentialGraph(size())``.

    Returns True on success and False (with a logged reason) when the engine cannot change it
    now: not initialized, or operations in flight. Raises TypeError for a graph that is not a
    ``networkx.DiGraph`` with ``size()`` nodes, RuntimeError if the ranks passed different graphs.
    """
    global _topology
    if not lib.bf_initialized():
        logger.error("Cannot set topology before bf.init().")
        return False
    if topology is None:
        topology = topology_util.ExponentialGraph(size())
        logger.debug("Default Exponential Two topology is used.")
    if not isinstance(topology, nx.DiGraph):
        raise TypeError(f"topology must be a networkx.DiGraph, got {type(topology).__name__}")
    if topology.number_of_nodes() != size():
        raise TypeError(f"topology has {topology.number_of_nodes()} nodes but bf.size() is "
                        f"{size()}")
    capsule = topology_util.to_engine(topology)
    with _lock:
        try:
            lib.bf_set_topology(capsule, int(bool(is_weighted)))
        except RuntimeError as error:
            if getattr(error, "status", None) != lib.BF_ERR_IN_PROGRESS:
                raise
            logger.error("Cannot change the topology while operations are in flight: %s", error)
            return False
        _topology = _TopologyState(topology, capsule, bool(is_weighted), rank())
    return True


def _state() -> Optional[_TopologyState]:
    return _topology


def load_topology() -> Optional[nx.DiGraph]:
    """The topology set last (None before init)."""
    return _topology.graph if _topology is not None else None


def is_topo_weighted() -> bool:
    """Whether the current topology's weights are the static neighbor_allreduce defaults."""
    return _topology.is_weighted if _topology is not None else False


def in_neighbor_ranks() -> List[int]:
    """Ranks that send to this rank in the current topology, ascending (self excluded)."""
    return list(_topology.in_neighbors) if _topology is not None else []


def out_neighbor_ranks() -> List[int]:
    """Ranks this rank sends to in the current topology, ascending (self excluded)."""
    return list(_topology.out_neighbors) if _topology is not None else []


def set_machine_topology(topology: Optional[nx.DiGraph], is_weighted: bool = False) -> bool:
    """Sets the topology between machines (``machine_size()`` nodes) used by static
    hierarchical_neighbor_allreduce. Collective. Not set by ``init()``. Needs a homogeneous
    layout (RuntimeError otherwise). Returns False (logged) while operations are in flight."""
    global _machine_topology
    if topology is None:
        raise ValueError("the machine topology must be given (a networkx.DiGraph over "
                         "bf.machine_size() machines)")
    if not isinstance(topology, nx.DiGraph):
        raise TypeError(f"machine topology must be a networkx.DiGraph, got "
                        f"{type(topology).__name__}")
    if topology.number_of_nodes() != machine_size():
        raise TypeError(f"machine topology has {topology.number_of_nodes()} nodes but "
                        f"bf.machine_size() is {machine_size()}")
    capsule = topology_util.to_engine(topology)
    with _lock:
        try:
            lib.bf_set_machine_topology(capsule, int(bool(is_weighted)))
        except RuntimeError as error:
            if getattr(error, "status", None) != lib.BF_ERR_IN_PROGRESS:
                raise
            logger.error("Cannot change the machine topology while operations are in flight: %s",
                         error)
            return False
        _machine_topology = _TopologyState(topology, capsule, bool(is_weighted), machine_rank())
    return True


def load_machine_topology() -> Optional[nx.DiGraph]:
    """The machine topology set last (None if none)."""
    return _machine_topology.graph if _machine_topology is not None else None


def is_machine_topo_weighted() -> bool:
    """Whether static hierarchical operations use the machine topology's weights."""
    return _machine_topology.is_weighted if _machine_topology is not None else False


def in_neighbor_machine_ranks() -> List[int]:
    """Machines that send to this machine in the machine topology, ascending."""
    return list(_machine_topology.in_neighbors) if _machine_topology is not None else []


def out_neighbor_machine_ranks() -> List[int]:
    """Machines this machine sends to in the machine topology, ascending."""
    return list(_machine_topology.out_neighbors) if _machine_topology is not None else []


def cuda_device_count() -> int:
    """The CUDA devices the engine can use for GPU tensors: 0 when the library was built without
    CUDA or no GPU is visible. Needs no ``init``."""
    return int(lib.bf_cuda_device_count())


def nccl_built() -> bool:
    """Whether this build has the NCCL backend for GPU tensors (False: they are all staged
    through host memory; see docs/gpu.md)."""
    return bool(lib.bf_nccl_built())
