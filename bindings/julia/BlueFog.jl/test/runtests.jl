# SPDX-License-Identifier: Apache-2.0
# Multi-rank tests of BlueFog.jl against closed forms. Run under MPI, e.g.
#   mpiexecjl -n 4 julia --project=bindings/julia/BlueFog.jl bindings/julia/BlueFog.jl/test/runtests.jl
# (not executed in this repository's CI: no Julia runtime there; see ../README.md).
using Test
using BlueFog
const BF = BlueFog

ctx = BF.init()
const r = BF.rank()
const n = BF.world_size()
wrap(a) = mod(a, n)
values(rank) = Float64[rank + 1, 10 * (rank + 1), -rank]

@testset "BlueFog.jl on $n ranks (rank $r)" begin
    @testset "process" begin
        @test BF.initialized()
        @test 0 <= r < n
        @test BF.version() == v"0.1.0"
        @test BF.matching_mode() in (:ordered, :named)
        @test 1 <= local_size() && 0 <= local_rank() < local_size()
    end

    @testset "topology" begin
        t, weighted = get_topology()
        @test !weighted
        @test Matrix(t) == Matrix(ExponentialGraph(n, 2))
        ring = RingGraph(5)
        @test first.(in_neighbors(ring, 0)) == [1, 4]
        @test all(last.(in_neighbors(ring, 0)) .≈ 1 / 3)
        rho = maximum(abs((1 + 2cos(2π * k / 5)) / 3) for k in 1:4)
        @test spectral_gap(ring) ≈ rho atol = 1e-9
        W = [0.5 0.5 0.0; 0.0 0.5 0.5; 0.5 0.0 0.5]
        @test Matrix(Topology(W)) == W
        @test weight(Topology(W), 0, 1) == 0.5
        err = try
            StarGraph(8, 9)
        catch e
            e
        end
        @test err isa BlueFogError && occursin("center_rank 9", err.message)
        exp8 = ExponentialTwoGraph(8)
        @test one_peer_schedule(exp8, 3, 1) == (send = [5], recv = [1])
        inferred = infer_topology([wrap(r + 1)])
        @test in_neighbors(inferred, r) == [wrap(r - 1) => 0.5]
        @test Matrix(infer_topology([wrap(r - 1)]; destinations = false)) == Matrix(inferred)
        close(ring)
        @test_throws BlueFogError nranks(ring)
    end

    @testset "allreduce, bcast, allgather, barrier" begin
        @test allreduce(Float64[r, 1]) ≈ [(n - 1) / 2, 1]
        for T in (Int8, Int16, Int32, Int64, UInt8, Float16, Float32, Float64)
            x = T[r + 1, 2(r + 1)]
            @test allreduce(x; op = :sum) == T[n * (n + 1) ÷ 2, n * (n + 1)]
        end
        @test_throws BlueFogError allreduce(Int32[1, 2])  # averaging needs floats
        y = fill(Float32(r), 4)
        bcast!(y, n - 1)
        @test all(==(n - 1), y)
        # Julia arrays are column-major: gathers concatenate along the last dimension.
        g = allgather(fill(Int32(r), 2, r + 1))
        @test size(g) == (2, n * (n + 1) ÷ 2)
        @test vec(g) == reduce(vcat, [fill(Int32(k), 2(k + 1)) for k in 0:n-1])
        barrier()
        h = barrier_async()
        @test wait(h) === nothing
    end

    @testset "neighbor operations" begin
        set_topology!(RingGraph(n; style = :right); weighted = true)
        left = wrap(r - 1)
        @test neighbor_allreduce(values(r)) ≈ 0.5 .* values(r) .+ 0.5 .* values(left)
        x = values(r)
        neighbor_allreduce!(x; self_weight = 0.25, src_weights = Dict(left => 0.75))
        @test x ≈ 0.25 .* values(r) .+ 0.75 .* values(left)
        # Dynamic: send to the right, receive from the left, destination scaled by 2.
        x = neighbor_allreduce(values(r); self_weight = 0.5, src_weights = Dict(left => 0.5),
                               dst_weights = Dict(wrap(r + 1) => 2.0), check_topology = true)
        @test x ≈ 0.5 .* values(r) .+ values(left)
        @test_throws BlueFogError neighbor_allreduce(values(r); self_weight = 1.0,
                                                     src_weights = Dict{Int,Float64}(),
                                                     dst_weights = [wrap(r + 1)],
                                                     check_topology = true)
        @test neighbor_allgather(fill(Int64(r), r + 1)) == fill(Int64(left), left + 1)
        h = neighbor_allreduce_async!(values(r))
        @test wait(h) ≈ 0.5 .* values(r) .+ 0.5 .* values(left)
        close(neighbor_allreduce_async!(values(r)))  # dropped handles wait for completion
        x16 = Float16.(fill(r + 1, 5))
        neighbor_allreduce!(x16)
        @test all(x16 .== Float16(0.5 * (r + 1) + 0.5 * (left + 1)))
        if (r ⊻ 1) < n
            peer = r ⊻ 1
            @test pair_gossip(values(r), peer) ≈ 0.5 .* values(r) .+ 0.5 .* values(peer)
        end
    end

    @testset "windows" begin
        # Exponential-2: in-neighbors r - 2^i, out-neighbors r + 2^i (mod n, 2^i < n).
        set_topology!(ExponentialTwoGraph(n))
        hops = [2^i for i in 0:62 if 2^i < n]
        sources = sort(unique(wrap.(r .- hops)))
        dests = sort(unique(wrap.(r .+ hops)))
        k = length(sources)
        win = win_create!(values(r), "jl.win"; zero_init = true)
        @test win_names() == ["jl.win"]
        @test_throws BlueFogError set_topology!(RingGraph(n))  # windows pin the topology
        win_put!(win; dst_weights = Dict(d => d + 1.0 for d in dests))
        barrier()
        @test win_versions(win) == [s => 1 for s in sources]
        buffers = win_update(win; self_weight = 0.0, src_weights = Dict(s => 1.0 for s in sources))
        @test buffers ≈ sum((r + 1) .* values(s) for s in sources)
        @test win.array == values(r)
        barrier()
        wait(win_accumulate_async!(win))
        win_accumulate!(win; self_weight = 0.5)
        @test win.array ≈ 0.5 .* values(r)
        barrier()
        # Buffers: (r + 1) x_s from the put, plus x_s and x_s (accumulated before the scaling).
        win_update_then_collect!(win)
        @test win.array ≈ 0.5 .* values(r) .+ sum((r + 3) .* values(s) for s in sources)
        barrier()
        close(win)
        @test win_names() == String[]

        win = win_create!(values(r), "jl.get"; zero_init = true)
        win_get!(win; src_weights = [first(sources)])
        wait(win_get_async!(win; src_weights = Dict(s => 2.0 for s in sources[2:end])))
        expected = (values(r) .+ values(first(sources)) .+
                    sum((2.0 .* values(s) for s in sources[2:end]); init = zeros(3))) ./ (k + 1)
        barrier()  # every get is served before any rank updates its array in place
        win_mutex(win; ranks = sources, for_self = true) do
            win_update!(win)
        end
        @test win.array ≈ expected
        err = try
            win_get!(win; src_weights = [r])
        catch e
            e
        end
        @test err isa BlueFogError && err.name == "BF_ERR_INVALID_ARGUMENT"
        @test_throws BlueFogError win_create!(values(r), "jl.get")  # the name is taken
        @test !get_win_associated_p()
        set_win_associated_p!(true)
        @test win_associated_p(win) == 1.0
        set_win_associated_p!(false)
        barrier()
        win_free!(win)
        @test_throws BlueFogError win_update!(win)
    end

    @testset "engine controls" begin
        @test mpi_threads_supported()
        @test unified_mpi_window_model_supported()
        suspend!()
        @test is_suspended()
        err = try barrier(); nothing catch e; e end
        @test err isa BlueFogError && err.name == "BF_ERR_SUSPENDED"
        resume!()
        @test allreduce(fill(Float64(r), 2); op = :sum) == fill(n * (n - 1) / 2, 2)
        initial = matching_mode()
        set_matching_mode!(:ordered)
        @test matching_mode() == :ordered
        @test allreduce(fill(Float64(r), 2); op = :sum) == fill(n * (n - 1) / 2, 2)
        set_matching_mode!(initial)
        @test matching_mode() == initial

        # Rank 0 locks its window; the others' puts wait until it unlocks.
        set_topology!(FullyConnectedGraph(n))
        win = win_create!(values(r), "jl.lock"; zero_init = true)
        barrier()
        if r == 0
            win_lock(win) do
                @test win_is_locked(win)
                barrier()
                barrier()
                sleep(0.2)
                @test all(last.(win_versions(win)) .== 0)
            end
            @test !win_is_locked(win)
        else
            barrier()
            handle = win_put_async!(win, win.array; dst_weights = Dict(0 => 1.0))
            sleep(0.3)
            @test !isready(handle)
            barrier()
            wait(handle)
        end
        barrier()
        r == 0 && @test win_versions(win) == [p => 1 for p in 1:n-1]
        win_free!(win)
        set_topology!(ExponentialGraph(n, 2))
    end

    @testset "timeline off" begin
        @test_throws BlueFogError timeline_activity(() -> nothing, "step", "compute")
    end
end

close(ctx)
@test !BF.initialized()
