# SPDX-License-Identifier: Apache-2.0
# Decentralized training with Flux: each rank fits the same small regression network on its own
# shard of data, and after every optimizer step averages its parameters with its neighbors
# (neighbor_allreduce over an exponential-two topology) instead of a global allreduce.
#
# Run (one process per rank, MPI.jl's launcher configured for the system MPI libbluefog uses):
#   mpiexecjl -n 4 julia --project=examples/julia examples/julia/flux_training.jl [--gpu]
# Not executed in this repository's CI (no Julia runtime there); see bindings/julia/BlueFog.jl.
using BlueFog
using Flux
using Random

const BF = BlueFog
const use_gpu = "--gpu" in ARGS
if use_gpu
    using CUDA  # CuArrays reach the engine zero-copy through DLPack.jl
end
device(x) = use_gpu ? gpu(x) : x

"""This rank's shard of y = sin(3x) + 0.1 noise, x in [-1, 1]; every rank draws different data."""
function shard(rank::Int, count::Int)
    rng = MersenneTwister(1234 + rank)
    x = 2 .* rand(rng, Float32, 1, count) .- 1
    y = sin.(3 .* x) .+ 0.1f0 .* randn(rng, Float32, 1, count)
    return x, y
end

function main()
    ctx = BF.init()
    rank, size = BF.rank(), BF.world_size()
    set_topology!(ExponentialTwoGraph(size); weighted = true)

    x, y = device.(shard(rank, 256))
    model = Chain(Dense(1 => 32, tanh), Dense(32 => 32, tanh), Dense(32 => 1)) |> device
    parameters = Flux.trainables(model)

    # Start every rank from rank 0's initial weights.
    for (k, p) in enumerate(parameters)
        bcast!(p, 0; name = "init.$k")
    end

    opt_state = Flux.setup(Adam(1f-2), model)
    loss(m, x, y) = Flux.mse(m(x), y)
    for epoch in 1:300
        train_loss, grads = Flux.withgradient(m -> loss(m, x, y), model)
        Flux.update!(opt_state, model, grads[1])
        # Average every parameter with the neighbors; the operations run concurrently on the
        # engine thread and are matched across ranks by name.
        handles = [neighbor_allreduce_async!(p; name = "param.$k")
                   for (k, p) in enumerate(parameters)]
        foreach(wait, handles)
        if epoch % 50 == 0
            mean_loss = allreduce([Float64(train_loss)]; name = "loss")[1]
            rank == 0 && println("epoch $epoch: mean training loss $(round(mean_loss; digits = 5))")
        end
    end

    # Consensus check: how far this rank's parameters are from the average over all ranks.
    flat = reduce(vcat, [vec(Array(p)) for p in parameters])
    spread = maximum(abs.(flat .- allreduce(flat; name = "final")))
    worst = allreduce([spread]; op = :sum, name = "spread")[1]
    rank == 0 && println("sum over ranks of max |parameter - mean|: $worst")
    close(ctx)
end

main()
