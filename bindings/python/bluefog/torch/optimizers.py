# SPDX-License-Identifier: Apache-2.0
"""Distributed optimizers with BlueFog's factories, arguments and knobs.

Each factory returns an optimizer of the caller's own class (a subclass made on the fly that
shares the original's parameter groups and state), so ``isinstance``, ``state_dict`` and LR
schedulers keep working. Communication is started from hooks so that it overlaps with
computation, and finished in ``step()``:

* Adapt-with-combine (AWC, ``DistributedAdaptWithCombineOptimizer``): after the forward pass, each
  parameter's neighbor_allreduce (or allreduce) starts; ``step()`` installs the combined value
  and applies the local update computed at the pre-combine point.
* Adapt-then-combine (ATC, ``DistributedAdaptThenCombineOptimizer``): when a parameter's gradient
  is ready, the optimizer's own update is applied to that parameter alone, then its combination
  starts; ``step()`` installs the results.
* ``DistributedGradientAllreduceOptimizer``: gradients are averaged (Horovod style).

* Window optimizers (``DistributedWinPutOptimizer``, ``DistributedPullGetOptimizer``,
  ``DistributedPushSumOptimizer``): every parameter is a one-sided window. After the forward
  pass, each parameter is put to (accumulated into, for push-sum) the out-neighbors' buffers, or
  fetched from the in-neighbors' windows (pull-get), with no matching call on the peers;
  ``step()`` waits for this rank's transfers, combines the parameter with its buffers, then
  applies the local update computed at the pre-combine point (as AWC). Windows are collective
  to create and free: ``unregister_window()`` frees them (all ranks together).

``num_steps_per_communication`` (J) communicates every J-th forward (AWC, window optimizers) or
backward (ATC, gradient allreduce) pass, for local gradient accumulation or local SGD. The
weights (``self_weight``, ``src_weights``, ``dst_weights``), ``enable_topo_check``,
``communication_type`` and ``force_barrier`` are attributes read each time communication starts
or finishes, so dynamic topologies are set between iterations.
"""
from __future__ import annotations

import contextlib
import enum
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import torch

from .. import basics
from ..compression import CompressionSpec
from . import mpi_ops, win_ops

__all__ = [
    "CommunicationType", "DistributedAdaptThenCombineOptimizer",
    "DistributedAdaptWithCombineOptimizer", "DistributedGradientAllreduceOptimizer",
    "DistributedWinPutOptimizer", "DistributedAllreduceOptimizer",
    "DistributedNeighborAllreduceOptimizer", "DistributedHierarchicalNeighborAllreduceOptimizer",
    "DistributedPushSumOptimizer", "DistributedPullGetOptimizer",
]

Model = Union[torch.nn.Module, Sequence[torch.nn.Module]]

_UNEXPECTED = ("Unexpected behavior: After num_steps_per_communication times of forward/backward "
               "computation, optimizer.step() should be called to finish the communication "
               "before computing again (see the BlueFog FAQ on num_steps_per_communication).")


class CommunicationType(enum.Enum):
    """How AWC/ATC optimizers combine parameters."""

    neighbor_allreduce = "neighbor.allreduce"
    hierarchical_neighbor_allreduce = "hierarchical.neighbor.allreduce"
    allreduce = "allreduce"
    empty = "empty"


def _named_parameters(model: Model) -> List[tuple]:
    if isinstance(model, torch.nn.Module):
        return list(model.named_parameters())
    if isinstance(model, (list, tuple)) and all(isinstance(m, torch.nn.Module) for m in model):
        return [(f"{i}.{name}", p) for i, m in enumerate(model) for name, p in m.named_parameters()]
    raise ValueError("model must be a torch.nn.Module or a list of torch.nn.Module, got "
                     f"{type(model).__name__}")


def _grad_accumulator(p: torch.Tensor) -> Any:
    """The autograd node that accumulates ``p.grad``: its hooks run once the gradient is ready
    (kept referenced, or autograd frees it)."""
    with torch.enable_grad():
        return p.expand_as(p).grad_fn.next_functions[0][0]


class _Distributed:
    """State and behaviour shared by the distributed optimizers. Mixed in before the caller's
    optimizer class, so ``super().step()`` is the caller's own update rule."""

    param_groups: List[Dict[str, Any]]

    def _bluefog_setup(self, model: Model, num_steps_per_communication: int) -> None:
        if not isinstance(num_steps_per_communication, int) or num_steps_per_communication < 1:
            raise ValueError("num_steps_per_communication must be a positive integer, got "
                             f"{num_steps_per_communication!r}")
        named = _named_parameters(model)
        names = [name for name, _ in named]
        if len(set(names)) != len(names):
            raise ValueError("Parameter names in the model are not unique.")
        self._models = [model] if isinstance(model, torch.nn.Module) else list(model)
        self._parameter_names: Dict[torch.Tensor, str] = {p: name for name, p in named}
        for group in self.param_groups:
            for p in group["params"]:
                if p not in self._parameter_names:
                    raise ValueError("An optimizer parameter is not a parameter of the model: "
                                     "every parameter must be named by model.named_parameters().")
        self._num_steps_per_communication = num_steps_per_communication
        self._handles: Dict[torch.Tensor, int] = {}
        self._hook_handles: List[Any] = []
        self._should_synchronize = True
        self._synchronized = False

    # -- public API shared by every distributed optimizer ----------------------------------------

    @property
    def num_steps_per_communication(self) -> int:
        return self._num_steps_per_communication

    def _bluefog_base_step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """The caller's optimizer's own step, without communication."""
        return super().step(closure)  # type: ignore[misc]

    def _parameters(self) -> Iterator[torch.Tensor]:
        for group in self.param_groups:
            yield from group["params"]

    def synchronize(self) -> None:
        """Finishes the communication in flight now (``step()`` then skips it when run inside
        ``skip_synchronize()``)."""
        self._bluefog_synchronize()
        self._synchronized = True

    @contextlib.contextmanager
    def skip_synchronize(self) -> Iterator[None]:
        """Within this context ``step()`` does not synchronize (use after ``synchronize()``)."""
        self._should_synchronize = False
        try:
            yield
        finally:
            self._should_synchronize = True

    def zero_grad(self, *args: Any, **kwargs: Any) -> None:
        if self._handles:
            raise AssertionError("optimizer.zero_grad() was called while communication is in "
                                 "flight; call optimizer.step() or optimizer.synchronize() first.")
        super().zero_grad(*args, **kwargs)  # type: ignore[misc]

    def _step_synchronize(self) -> None:
        if not self._should_synchronize:
            self._synchronized = False
            return
        if self._synchronized:
            warnings.warn("optimizer.step() called without optimizer.skip_synchronize() context "
                          "after optimizer.synchronize(). This can cause training slowdown.")
        self._bluefog_synchronize()
        self._synchronized = False

    def _bluefog_synchronize(self) -> None:
        raise NotImplementedError

    def _register_grad_hooks(self) -> None:
        """Calls ``self._on_gradient_ready(p)`` on the ``num_steps_per_communication``-th backward
        pass of each parameter in ``self._countdown`` (warning on passes beyond that)."""
        for p in self._countdown:
            accumulator = _grad_accumulator(p)
            self._hook_handles.append(accumulator.register_hook(self._make_grad_hook(p)))
            self._grad_accumulators.append(accumulator)

    def _make_grad_hook(self, p: torch.Tensor) -> Callable[..., None]:
        def hook(*unused: Any) -> None:
            if self._countdown[p] <= 0:
                warnings.warn(_UNEXPECTED)
                return
            self._countdown[p] -= 1
            if self._countdown[p] == 0:
                self._on_gradient_ready(p)

        return hook

    def _on_gradient_ready(self, p: torch.Tensor) -> None:
        raise NotImplementedError

    def _remove_hooks(self) -> None:
        for handle in self._hook_handles:
            handle.remove()
        self._hook_handles = []


class _CombineMixin(_Distributed):
    """Parameter combination (AWC and ATC): the knobs and the launch of one parameter's
    communication."""

    def _combine_setup(self, communication_type: CommunicationType) -> None:
        self.self_weight: Optional[float] = None
        self.src_weights: Optional[Dict[int, float]] = None
        self.dst_weights: Union[Dict[int, float], List[int], None] = None
        self.src_machine_weights: Optional[Dict[int, float]] = None
        self.dst_machine_weights: Union[Dict[int, float], List[int], None] = None
        self.enable_topo_check = False
        # BlueFog-C: how neighbor messages are encoded (bluefog.Compression); error feedback is
        # kept per parameter name.
        self.compression: CompressionSpec = None
        self.communication_type = communication_type

    @property
    def communication_type(self) -> CommunicationType:
        return self._communication_type

    @communication_type.setter
    def communication_type(self, value: CommunicationType) -> None:
        if not isinstance(value, CommunicationType):
            raise ValueError(f"communication_type must be a CommunicationType, got {value!r}")
        self._communication_type = value

    def _launch(self, p: torch.Tensor) -> None:
        name = self._parameter_names[p]
        kind = self._communication_type
        if kind == CommunicationType.empty:
            return
        if kind == CommunicationType.allreduce:
            handle = mpi_ops.allreduce_nonblocking(p.data, average=True, name=name)
        elif kind == CommunicationType.hierarchical_neighbor_allreduce:
            handle = mpi_ops.hierarchical_neighbor_allreduce_nonblocking(
                p.data, self_weight=self.self_weight,
                src_machine_weights=self.src_machine_weights,
                dst_machine_weights=self.dst_machine_weights, name=name,
                compression=self.compression)
        else:
            handle = mpi_ops.neighbor_allreduce_nonblocking(
                p.data, self_weight=self.self_weight, src_weights=self.src_weights,
                dst_weights=self.dst_weights, enable_topo_check=self.enable_topo_check,
                name=name, compression=self.compression)
        self._handles[p] = handle

    def _bluefog_synchronize(self) -> None:
        handles, self._handles = self._handles, {}
        with torch.no_grad():
            for p, handle in handles.items():
                p.data.copy_(mpi_ops.synchronize(handle))


class _ForwardTriggered(_Distributed):
    """Communication of each parameter starts right after its module's J-th forward pass in
    training mode (``self._launch(p)``); ``step()`` finishes it, then runs the local update."""

    def _forward_setup(self) -> None:
        # Forward passes per model (training mode) and, per parameter, the pass that launched it.
        self._forward_passes = [0] * len(self._models)
        self._launched_pass: Dict[torch.Tensor, int] = {}
        self._late_forward = False
        if basics.size() > 1:
            self._register_forward_hooks()

    def _register_forward_hooks(self) -> None:
        for index, model in enumerate(self._models):
            self._hook_handles.append(model.register_forward_pre_hook(self._make_counter(index)))
            for module in model.modules():
                params = [p for p in module.parameters(recurse=False)
                          if p.requires_grad and p in self._parameter_names]
                if params:
                    self._hook_handles.append(
                        module.register_forward_hook(self._make_forward_hook(index, params)))

    def _make_counter(self, index: int) -> Callable[..., None]:
        def count(module: torch.nn.Module, inputs: Any) -> None:
            if module.training:
                self._forward_passes[index] += 1
                if self._handles:
                    self._late_forward = True  # a pass after the communication started

        return count

    def _make_forward_hook(self, index: int,
                           params: List[torch.Tensor]) -> Callable[..., None]:
        def hook(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            if not module.training:
                return
            current = self._forward_passes[index]
            if current % self._num_steps_per_communication != 0:
                return
            for p in params:
                # A module applied twice in one pass (shared layer) communicates once.
                if self._launched_pass.get(p) == current or p in self._handles:
                    continue
                self._launched_pass[p] = current
                self._launch(p)

        return hook

    def _launch(self, p: torch.Tensor) -> None:
        raise NotImplementedError

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        if self._handles and self._late_forward:
            warnings.warn(_UNEXPECTED)
        self._late_forward = False
        self._step_synchronize()
        return self._bluefog_base_step(closure)


class _DistributedReduceOptimizer(_CombineMixin, _ForwardTriggered):
    """AWC: communication of each parameter starts right after its module's forward pass."""

    def _bluefog_init(self, model: Model, communication_type: CommunicationType,
                      num_steps_per_communication: int) -> None:
        self._bluefog_setup(model, num_steps_per_communication)
        self._combine_setup(communication_type)
        self._forward_setup()


class _WindowMixin(_ForwardTriggered):
    """One window per parameter (named ``window_prefix`` + the parameter's name), created with
    the optimizer and freed by ``unregister_window()``."""

    def _window_setup(self, window_prefix: Optional[str]) -> None:
        self._window_prefix = window_prefix or ""
        self._window_names: Dict[torch.Tensor, str] = {}
        self.force_barrier = False

    def _window_name(self, p: torch.Tensor) -> str:
        return self._window_prefix + self._parameter_names[p]

    def _register_windows(self, window_of: Callable[[torch.Tensor], torch.Tensor],
                          zero_init: bool = False) -> None:
        """Creates the window ``window_of(p)`` of every parameter that requires grad."""
        for p in self._parameters():
            if not p.requires_grad or p in self._window_names:
                continue
            name = self._window_name(p)
            if not win_ops.win_create(window_of(p), name, zero_init=zero_init):
                raise ValueError(f"Cannot allocate MPI window for the parameter {name}")
            self._window_names[p] = name

    def unregister_window(self) -> None:
        """Frees this optimizer's windows (collective: every rank calls it) after this rank's
        transfers in flight; the optimizer only steps locally afterwards."""
        self._wait_transfers()
        self._remove_hooks()
        names, self._window_names = self._window_names, {}
        for name in names.values():
            win_ops.win_free(name)

    def _wait_transfers(self) -> List[torch.Tensor]:
        """Waits for this rank's transfers in flight (then, with ``force_barrier``, for every
        rank's) and returns their parameters."""
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            win_ops.win_wait(handle)
        if handles and self.force_barrier:
            mpi_ops.barrier()
        return list(handles)


class _DistributedAdaptThenCombineOptimizer(_CombineMixin):
    """ATC: when a parameter's gradient is ready, update it locally and start its combination."""

    def _bluefog_init(self, model: Model, communication_type: CommunicationType,
                      num_steps_per_communication: int) -> None:
        self._bluefog_setup(model, num_steps_per_communication)
        self._combine_setup(communication_type)
        self._step_function: Optional[Callable[..., None]] = None
        self._group_of = {p: group for group in self.param_groups for p in group["params"]}
        self._countdown = {p: num_steps_per_communication for p in self._parameters()
                           if p.requires_grad}
        self._grad_accumulators: List[Any] = []
        if basics.size() > 1:
            self._register_grad_hooks()

    def register_step_function(self, step_function: Callable[..., None]) -> None:
        """Uses ``step_function(optimizer, p, grad, group)`` for the per-parameter update instead
        of the optimizer's own ``step`` restricted to that parameter."""
        self._step_function = step_function

    def _on_gradient_ready(self, p: torch.Tensor) -> None:
        self._adapt(p)
        self._launch(p)

    def _adapt(self, p: torch.Tensor) -> None:
        """Applies the optimizer's update to ``p`` alone."""
        group = self._group_of[p]
        if self._step_function is not None:
            with torch.no_grad():
                self._step_function(self, p, p.grad, group)
            return
        saved = [g["params"] for g in self.param_groups]
        try:
            for g in self.param_groups:
                g["params"] = [p] if g is group else []
            self._bluefog_base_step()
        finally:
            for g, params in zip(self.param_groups, saved):
                g["params"] = params

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        counts = set(self._countdown.values())
        if not self._countdown or counts.isdisjoint({0}):
            # No communication round completed: a local step (or a single rank).
            return self._bluefog_base_step(closure)
        if counts != {0}:
            raise ValueError("We do not support partial step update in ATC yet.")
        loss = closure() if closure is not None else None
        self._step_synchronize()
        for p in self._countdown:
            self._countdown[p] = self._num_steps_per_communication
        return loss


class _DistributedOptimizer(_Distributed):
    """Gradient allreduce: each gradient's average starts as soon as it is ready."""

    def _bluefog_init(self, model: Model, num_steps_per_communication: int) -> None:
        self._bluefog_setup(model, num_steps_per_communication)
        self._countdown = {p: num_steps_per_communication for p in self._parameters()
                           if p.requires_grad}
        self._grad_accumulators: List[Any] = []
        if basics.size() > 1:
            self._register_grad_hooks()

    def _on_gradient_ready(self, p: torch.Tensor) -> None:
        self._launch(p)

    def _launch(self, p: torch.Tensor) -> None:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        self._handles[p] = mpi_ops.allreduce_nonblocking(p.grad, average=True,
                                                         name=self._parameter_names[p])

    def _bluefog_synchronize(self) -> None:
        if basics.size() > 1:
            for p in self._countdown:
                if p not in self._handles:
                    self._launch(p)
        handles, self._handles = self._handles, {}
        with torch.no_grad():
            for p, handle in handles.items():
                p.grad.copy_(mpi_ops.synchronize(handle))
        for p in self._countdown:
            self._countdown[p] = self._num_steps_per_communication

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        self._step_synchronize()
        return self._bluefog_base_step(closure)


def _distributed(impl: type, optimizer: torch.optim.Optimizer) -> Any:
    """An object of a new subclass of ``optimizer``'s class mixing in ``impl``, sharing
    ``optimizer``'s parameter groups, defaults and state."""
    if isinstance(optimizer, _Distributed):
        raise ValueError("optimizer is already a BlueFog distributed optimizer")
    base = optimizer.__class__
    cls = type(base.__name__, (impl, base), {"__module__": base.__module__})
    distributed = cls.__new__(cls)
    distributed.__dict__.update(optimizer.__dict__)
    return distributed


def DistributedAdaptWithCombineOptimizer(  # pylint: disable=invalid-name
        optimizer: torch.optim.Optimizer, model: Model,
        communication_type: CommunicationType = CommunicationType.neighbor_allreduce,
        num_steps_per_communication: int = 1, *,
        compression: CompressionSpec = None) -> torch.optim.Optimizer:
    """Adapt-with-combine: ``x_{k+1} = sum_j w_ij x_{j,k} - lr * grad f_i(x_{i,k})``, with the
    combination overlapping the forward and backward passes. ``compression`` (BlueFog-C; also
    the ``compression`` attribute) encodes the neighbor messages, e.g. "int8"."""
    distributed = _distributed(_DistributedReduceOptimizer, optimizer)
    distributed._bluefog_init(model, communication_type, num_steps_per_communication)
    distributed.compression = compression
    return distributed


def DistributedAdaptThenCombineOptimizer(  # pylint: disable=invalid-name
        optimizer: torch.optim.Optimizer, model: Model,
        communication_type: CommunicationType = CommunicationType.neighbor_allreduce,
        num_steps_per_communication: int = 1, *,
        compression: CompressionSpec = None) -> torch.optim.Optimizer:
    """Adapt-then-combine: ``x_{k+1} = sum_j w_ij (x_{j,k} - lr * grad f_j(x_{j,k}))``, each
    parameter updated and sent as soon as its gradient is ready. Works with any optimizer: the
    per-parameter update is the optimizer's own ``step`` applied to that parameter alone
    (``register_step_function`` overrides it). ``compression`` as for AWC."""
    distributed = _distributed(_DistributedAdaptThenCombineOptimizer, optimizer)
    distributed._bluefog_init(model, communication_type, num_steps_per_communication)
    distributed.compression = compression
    return distributed


def DistributedGradientAllreduceOptimizer(  # pylint: disable=invalid-name
        optimizer: torch.optim.Optimizer, model: Model,
        num_steps_per_communication: int = 1) -> torch.optim.Optimizer:
    """Averages gradients over all ranks before each step (Horovod's DistributedOptimizer)."""
    distributed = _distributed(_DistributedOptimizer, optimizer)
    distributed._bluefog_init(model, num_steps_per_communication)
    return distributed


def _deprecated(name: str, communication_type: CommunicationType) -> Callable[..., Any]:
    def factory(optimizer: torch.optim.Optimizer, model: Model,
                num_steps_per_communication: int = 1) -> torch.optim.Optimizer:
        warnings.warn(f"{name} will be deprecated in the future. Use "
                      "DistributedAdaptWithCombineOptimizer with "
                      f"communication_type=CommunicationType.{communication_type.name} instead.",
                      PendingDeprecationWarning)
        return DistributedAdaptWithCombineOptimizer(optimizer, model, communication_type,
                                                    num_steps_per_communication)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"Deprecated: DistributedAdaptWithCombineOptimizer with "
                       f"CommunicationType.{communication_type.name}.")
    return factory


DistributedAllreduceOptimizer = _deprecated("DistributedAllreduceOptimizer",
                                            CommunicationType.allreduce)
DistributedNeighborAllreduceOptimizer = _deprecated("DistributedNeighborAllreduceOptimizer",
                                                    CommunicationType.neighbor_allreduce)
DistributedHierarchicalNeighborAllreduceOptimizer = _deprecated(
    "DistributedHierarchicalNeighborAllreduceOptimizer",
    CommunicationType.hierarchical_neighbor_allreduce)


class _DistributedWinOptimizer(_WindowMixin):
    """Win-put (push) or pull-get: after the forward pass each parameter is put to the
    out-neighbors' buffers (``dst_weights``) or fetched from the in-neighbors' windows
    (``src_weights``); ``step()`` sets it to ``win_update``'s combination (the topology's
    default weights), then steps locally."""

    def _bluefog_init(self, model: Model, num_steps_per_communication: int,
                      window_prefix: Optional[str], pull_style: bool) -> None:
        self._bluefog_setup(model, num_steps_per_communication)
        self._window_setup(window_prefix)
        self._pull_style = pull_style
        self.dst_weights: Union[Dict[int, float], List[int], None] = None
        self.src_weights: Optional[Dict[int, float]] = None
        if basics.size() > 1:
            self._register_windows(lambda p: p.data)
        self._forward_setup()

    def _launch(self, p: torch.Tensor) -> None:
        name = self._window_names.get(p)
        if name is None:  # a model parameter this optimizer does not train
            return
        if self._pull_style:
            handle = win_ops.neighbor_win_get_nonblocking(name, src_weights=self.src_weights,
                                                          require_mutex=True)
        else:
            handle = win_ops.neighbor_win_put_nonblocking(p.data, name,
                                                          dst_weights=self.dst_weights,
                                                          require_mutex=False)
        self._handles[p] = handle

    def _bluefog_synchronize(self) -> None:
        with torch.no_grad():
            for p in self._wait_transfers():
                win_ops.win_update(self._window_names[p], require_mutex=True)  # writes p


class _DistributedPushSumOptimizer(_WindowMixin):
    """Push-sum (gradient push): each parameter's window holds ``[w * x, w]`` (``w`` the push-sum
    weight, 1 at the start). After the forward pass, ``dst_weights[d] * [w x, w]`` is accumulated
    into each out-neighbor's buffer and this rank keeps ``self_weight * [w x, w]`` (default: equal
    shares ``1/(out-degree+1)``, which keep the total weight); ``step()`` adds the received
    shares (``win_update_then_collect``), sets ``x`` to the de-biased ``(w x) / w``, then steps
    locally. The windows are named by the full parameter names (BlueFog stored them under the
    leaf module's name and read them under the full one)."""

    def _bluefog_init(self, model: Model, num_steps_per_communication: int,
                      window_prefix: Optional[str]) -> None:
        self._bluefog_setup(model, num_steps_per_communication)
        self._window_setup(window_prefix)
        share = 1.0 / (len(basics.out_neighbor_ranks()) + 1)
        self.self_weight = share
        self.dst_weights: Union[Dict[int, float], List[int], None] = {
            r: share for r in basics.out_neighbor_ranks()}
        self.force_barrier = True
        self._extended: Dict[torch.Tensor, torch.Tensor] = {}
        if basics.size() > 1:
            self._register_windows(self._extend, zero_init=True)
        self._forward_setup()

    def _extend(self, p: torch.Tensor) -> torch.Tensor:
        extended = torch.cat([p.detach().reshape(-1), p.detach().new_ones(1)])
        self._extended[p] = extended
        return extended

    def _launch(self, p: torch.Tensor) -> None:
        extended = self._extended.get(p)
        if extended is None or p not in self._window_names:  # not trained by this optimizer
            return
        with torch.no_grad():
            # The local update changed x since the last collect: w x is rebuilt from it.
            extended[:-1].copy_(p.detach().reshape(-1)).mul_(extended[-1])
        self._handles[p] = win_ops.neighbor_win_accumulate_nonblocking(
            extended, self._window_names[p], self_weight=self.self_weight,
            dst_weights=self.dst_weights, require_mutex=True)

    def _bluefog_synchronize(self) -> None:
        with torch.no_grad():
            for p in self._wait_transfers():
                extended = win_ops.win_update_then_collect(self._window_names[p])
                p.copy_((extended[:-1] / extended[-1]).reshape(p.shape))


def DistributedWinPutOptimizer(optimizer: torch.optim.Optimizer,  # pylint: disable=invalid-name
                               model: Model, num_steps_per_communication: int = 1,
                               window_prefix: Optional[str] = None) -> torch.optim.Optimizer:
    """Asynchronous push: after the forward pass each parameter is put into its out-neighbors'
    window buffers (``dst_weights``, default every out-neighbor with weight 1); ``step()`` sets
    it to ``win_update``'s combination with the latest values received, then steps locally.
    Windows are named ``window_prefix`` + parameter name; ``force_barrier`` makes ``step()``
    wait for every rank's puts. Free the windows with ``unregister_window()`` (collective)."""
    distributed = _distributed(_DistributedWinOptimizer, optimizer)
    distributed._bluefog_init(model, num_steps_per_communication, window_prefix,
                              pull_style=False)
    return distributed


def DistributedPullGetOptimizer(optimizer: torch.optim.Optimizer,  # pylint: disable=invalid-name
                                model: Model, num_steps_per_communication: int = 1,
                                window_prefix: Optional[str] = None) -> torch.optim.Optimizer:
    """Asynchronous pull: after the forward pass each parameter fetches its in-neighbors' current
    values (``src_weights``, default weight 1 each) into its window buffers; ``step()`` combines
    them as ``DistributedWinPutOptimizer`` does. Free with ``unregister_window()``."""
    distributed = _distributed(_DistributedWinOptimizer, optimizer)
    distributed._bluefog_init(model, num_steps_per_communication, window_prefix, pull_style=True)
    return distributed


def DistributedPushSumOptimizer(optimizer: torch.optim.Optimizer,  # pylint: disable=invalid-name
                                model: Model, num_steps_per_communication: int = 1,
                                window_prefix: Optional[str] = None) -> torch.optim.Optimizer:
    """Push-sum (gradient push) over one-sided accumulates; works on directed topologies with
    column-stochastic shares. Knobs: ``self_weight`` and ``dst_weights`` (default equal shares
    ``1/(out-degree+1)``), ``force_barrier`` (default True). Free with ``unregister_window()``."""
    distributed = _distributed(_DistributedPushSumOptimizer, optimizer)
    distributed._bluefog_init(model, num_steps_per_communication, window_prefix)
    return distributed
