"""Data-parallel gradient descent: rows of X split over devices, gradients summed by XLA."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lrjax import _fused
from lrjax._types import Params
from lrjax._validate import check_fit_inputs


def default_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis name ``"rows"``."""
    return Mesh(np.array(jax.devices()), ("rows",))


def _global(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """One global array from the same host copy in every process (each keeps its shards)."""
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _local(x: jax.Array) -> np.ndarray:
    """A replicated result as a host array, in one process or many."""
    return np.asarray(x if x.is_fully_addressable else x.addressable_data(0))


def fit_sharded(
    X,
    y,
    *,
    learning_rate: float,
    steps: int,
    init: Params | None = None,
    mesh: Mesh | None = None,
) -> tuple[Params, jax.Array]:
    """Full-batch gradient descent with the rows of X split over the devices of a mesh.

    Every device holds a slice of the rows, in the cache-blocked transposed
    layout of ``method="fused"``, computes the sums Σ Xᵀdz, Σ dz and Σ loss over
    its rows in one pass, and ``psum`` adds them over the mesh; each device then
    applies the same update. The result equals :func:`lrjax.fit` up to the
    order of the floating-point sums. m need not be divisible by the number of
    devices: rows added to fill the blocks have weight 0.

    Several CPU devices in one process come from
    ``jax.config.update("jax_num_cpu_devices", k)`` (or ``XLA_FLAGS=
    --xla_force_host_platform_device_count=k``) set before JAX first runs.
    Under ``jax.distributed`` every process passes the same X and y and the
    mesh spans the devices of all processes.

    Args:
        X: (m, n) features; y: (m,) labels in {0, 1}.
        learning_rate: α > 0.
        steps: number of updates, a positive int.
        init: starting ``Params``; zeros of X's dtype by default.
        mesh: the devices to use; all of ``jax.devices()`` by default. Its
            axes are flattened: the rows are split over every device in it.

    Returns:
        ``(params, history)``: ``Params(w: (n,), b: ())`` and the (steps,)
        cost before each update, as host-backed arrays.

    Raises:
        ValueError: as :func:`lrjax.fit`.
    """
    X, y, init = check_fit_inputs(X, y, learning_rate, steps, init)
    return run_sharded(X, y, learning_rate, init, steps, mesh)


def run_sharded(X, y, learning_rate, init: Params, steps: int, mesh: Mesh | None = None):
    """:func:`fit_sharded` on validated inputs (X a 2-D array, y in X's dtype)."""
    mesh = default_mesh() if mesh is None else mesh
    m, n = X.shape
    devices = mesh.size
    rows = _fused.block_rows(n, X.dtype.itemsize, math.ceil(m / devices))
    blocks = _to_blocks(X, y, rows, devices)
    sharded, replicated = NamedSharding(mesh, P(mesh.axis_names)), NamedSharding(mesh, P())
    lr = jnp.asarray(learning_rate, X.dtype)
    if jax.process_count() == 1:  # device to device, no copy through host memory
        XT3, y3, mask3 = jax.device_put(blocks, sharded)
        init, lr = jax.device_put((init, lr), replicated)
    else:  # each process supplies its own devices' shards from its copy of X
        XT3, y3, mask3 = (_global(np.asarray(a), sharded) for a in blocks)
        init = Params(*(_global(np.asarray(p), replicated) for p in init))
        lr = _global(np.asarray(lr), replicated)
    params, history = _program(mesh, steps, m)(XT3, y3, mask3, init, lr)
    return Params(*(jnp.asarray(_local(p)) for p in params)), jnp.asarray(_local(history))


@functools.partial(jax.jit, static_argnames=("rows", "groups"))
def _to_blocks(X, y, rows: int, groups: int):
    return _fused.to_blocks(X, y, rows, groups)


@functools.lru_cache(maxsize=32)
def _program(mesh: Mesh, steps: int, m: int):
    """The jit-compiled shard_map loop, built once per (mesh, steps, m)."""
    axes = mesh.axis_names

    def local(XT3, y3, mask3, params, lr):
        def body(params, _):
            gw, gb, total = jax.lax.psum(_fused.block_sums(XT3, y3, mask3, params), axes)
            w = params.w - lr * (gw / m)
            return Params(w, params.b - lr * (gb / m)), total / m

        return jax.lax.scan(body, params, length=steps)

    spec = P(axes)
    return jax.jit(
        jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(spec, spec, spec, P(), P()),
            out_specs=(P(), P()),
            check_vma=False,
        )
    )
