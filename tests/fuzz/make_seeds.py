#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of the libFuzzer harnesses: tests/fuzz/corpus/<harness>/seed-<name>.

Each seed is a small meaningful input in the harness's byte layout (documented above each
LLVMFuzzerTestOneInput): valid cases next to the edge cases each check exists for. Regression
inputs (regress-*, minimized crashes) live next to the seeds and are never touched here.
Run it again after changing a harness's layout: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import ctypes
import math
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# DLPack (dlpack.h): type codes and device types.
DL_INT, DL_UINT, DL_FLOAT, DL_BFLOAT = 0, 1, 2, 4
DL_CPU, DL_CUDA, DL_CUDA_HOST = 1, 2, 3

# ByteReader::ReadDouble: one tag byte indexing this table, or 0x80 followed by 8 raw bytes.
DOUBLE_TABLE = {0.0: 0, 1.0: 1, 0.5: 2, 1.0 / 3.0: 3, 0.25: 4, 0.2: 5, -1.0: 6, -0.5: 7,
                "-0": 8, "nan": 9, "inf": 10, "-inf": 11, 2.0: 18, 60.0: 21, 1e9: 22}


def dbl(value):
    key = value
    if isinstance(value, float) and math.isnan(value):
        key = "nan"
    elif value == math.inf:
        key = "inf"
    elif value == -math.inf:
        key = "-inf"
    elif value == 0.0 and math.copysign(1.0, value) < 0:
        key = "-0"
    if key in DOUBLE_TABLE:
        return bytes([DOUBLE_TABLE[key]])
    return b"\x80" + struct.pack("<d", value)


def string(text):
    data = text.encode() if isinstance(text, str) else text
    return bytes([len(data)]) + data


# ----- fuzz_tensor -----------------------------------------------------------------------------
def tensor(shape, code=DL_FLOAT, bits=32, lanes=1, device=DL_CPU, device_id=0, byte_offset=0,
           data_offset=0, strides=None, null=False, null_shape=False, null_data=False,
           ndim=None, compact=False):
    flags = ((1 if null else 0) | (2 if null_shape else 0) | (4 if strides is not None else 0)
             | (8 if null_data else 0) | (16 if compact else 0))
    ndim = len(shape) if ndim is None else ndim
    wide = not -128 <= ndim <= 127
    flags |= 32 if wide else 0
    out = bytes([flags]) + struct.pack("<i" if wide else "<b", ndim)
    out += struct.pack("<BBHiiQH", code, bits, lanes, device, device_id, byte_offset, data_offset)
    entry = "<b" if compact else "<q"
    out += b"".join(struct.pack(entry, extent) for extent in shape)
    if strides is not None:
        out += b"".join(struct.pack(entry, stride) for stride in strides)
    return out


def tensor_input(first, second=None, rank=0):
    return bytes([1 if second is not None else 0]) + struct.pack("<i", rank) + first + (
        second or b"")


TENSOR_SEEDS = {
    "float32-4x3-pair": tensor_input(tensor([4, 3], compact=True), tensor([4, 3], compact=True)),
    "float32-shape-mismatch": tensor_input(tensor([4, 3]), tensor([3, 4])),
    "dtype-mismatch": tensor_input(tensor([4], bits=64), tensor([4], code=DL_INT, bits=64)),
    "float64-strides": tensor_input(tensor([2, 3], bits=64, strides=[3, 1])),
    "extent1-any-stride": tensor_input(tensor([3, 1, 2], strides=[2, 99, 1])),
    "non-contiguous": tensor_input(tensor([2, 3], strides=[1, 2])),
    "int8-scalar": tensor_input(tensor([], code=DL_INT, bits=8, null_shape=True), rank=3),
    "empty-null-data": tensor_input(tensor([0, 5], bits=16, null_data=True)),
    "null-data-with-offset": tensor_input(tensor([0], bits=64, null_data=True, byte_offset=8)),
    "bfloat16-cudahost-offset": tensor_input(tensor([5], code=DL_BFLOAT, bits=16,
                                                    device=DL_CUDA_HOST, byte_offset=10)),
    "uint8-misaligned-ok": tensor_input(tensor([7], code=DL_UINT, bits=8, data_offset=3)),
    "float32-misaligned": tensor_input(tensor([2], data_offset=2)),
    "byte-offset-not-multiple": tensor_input(tensor([2], byte_offset=6)),
    "huge-byte-offset": tensor_input(tensor([1], bits=64, byte_offset=0xFFFFFFFFFFFFFFF8)),
    "lanes2": tensor_input(tensor([4], lanes=2)),
    "cuda-device": tensor_input(tensor([4], device=DL_CUDA)),
    "unknown-device": tensor_input(tensor([4], device=99)),
    "unknown-dtype": tensor_input(tensor([4], code=DL_FLOAT, bits=24)),
    "ndim-65": tensor_input(tensor([], ndim=65)),
    "ndim-negative": tensor_input(tensor([], ndim=-1)),
    "ndim-int-max": tensor_input(tensor([], ndim=2**31 - 1)),
    "shape-null": tensor_input(tensor([], ndim=2, null_shape=True)),
    "negative-extent": tensor_input(tensor([3, -2])),
    "overflowing-extents": tensor_input(tensor([2**40, 2**40])),
    "null-tensor": tensor_input(tensor([], null=True), tensor([1])),
}


# ----- fuzz_topology ---------------------------------------------------------------------------
def matrix(size, rows, length=0):
    weights = [w for row in rows for w in row]
    return bytes([0]) + struct.pack("<bB", size, length) + b"".join(dbl(w) for w in weights)


def edges(size, edge_list, no_weights=False, drop_dst=False, drop_weight=False):
    flags = (1 if no_weights else 0) | (2 if drop_dst else 0) | (4 if drop_weight else 0)
    out = bytes([1]) + struct.pack("<bBB", size, len(edge_list), flags)
    for edge in edge_list:
        out += struct.pack("<bb", edge[0], edge[1])
        if not no_weights:
            out += dbl(edge[2])
    return out


GENERATORS = {"exponential": 0, "exponential_two": 1, "symmetric_exponential": 2, "ring": 3,
              "star": 4, "mesh_grid_2d": 5, "fully_connected": 6}


def generator(name, size, a=0, b=0):
    return bytes([2]) + struct.pack("<bBbb", size, GENERATORS[name], a, b)


def ring_edges(n, weight):
    out = [(i, i, weight) for i in range(n)]
    out += [(i, (i + 1) % n, weight) for i in range(n)]
    return out


third = 1.0 / 3.0
TOPOLOGY_SEEDS = {
    "matrix-fully-connected-3": matrix(3, [[third] * 3] * 3),
    "matrix-directed-4": matrix(4, [[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5],
                                    [0.5, 0, 0, 0.5]]),
    "matrix-single": matrix(1, [[1.0]]),
    "matrix-negative-stochastic": matrix(2, [[2.0, -1.0], [-1.0, 2.0]]),
    "matrix-negative-zero": matrix(2, [[1.0, -0.0], [-0.0, 1.0]]),
    "matrix-not-stochastic": matrix(3, [[1.0, 1.0, 0], [0, 1.0, 0], [0.25, 0, 0.2]]),
    "matrix-raw-doubles": matrix(2, [[0.7, 0.3], [0.3, 0.7]]),
    "matrix-nan": matrix(2, [[0.5, math.nan], [0.5, 0.5]]),
    "matrix-inf": matrix(2, [[math.inf, 0.5], [0.5, -math.inf]]),
    "matrix-wrong-length": matrix(3, [[third] * 5], length=5),
    "matrix-size-zero": matrix(0, []),
    "matrix-size-negative": matrix(-3, []),
    "edges-ring-5": edges(5, ring_edges(5, 0.5)),
    "edges-unweighted": edges(4, [(0, 1), (1, 2), (2, 3), (3, 0)], no_weights=True),
    "edges-duplicate": edges(3, [(0, 1, 0.5), (0, 1, 0.5)]),
    "edges-out-of-range": edges(3, [(0, 3, 1.0)]),
    "edges-negative-rank": edges(3, [(-1, 0, 1.0)]),
    "edges-zero-weight": edges(3, [(0, 1, 0.0)]),
    "edges-nan-weight": edges(3, [(0, 1, math.nan)]),
    "edges-length-mismatch": edges(3, [(0, 1, 1.0), (1, 2, 1.0)], drop_dst=True),
    "edges-weights-mismatch": edges(3, [(0, 1, 1.0), (1, 2, 1.0)], drop_weight=True),
    "special-size-int-max": bytes([4 | 1, 3, 0, 0]),
    "special-size-too-large": bytes([4 | 0, 4, 0]),
    "gen-exponential-8-2": generator("exponential", 8, 2),
    "gen-exponential-two-16": generator("exponential_two", 16),
    "gen-symmetric-exponential-9-3": generator("symmetric_exponential", 9, 3),
    "gen-ring-5-left": generator("ring", 5, 1),
    "gen-ring-bad-style": generator("ring", 5, 7),
    "gen-star-6": generator("star", 6, 0),
    "gen-star-bad-center": generator("star", 6, 6),
    "gen-mesh-12-3x4": generator("mesh_grid_2d", 12, 3, 4),
    "gen-mesh-12-default": generator("mesh_grid_2d", 12, 0, 0),
    "gen-fully-connected-7": generator("fully_connected", 7),
    "gen-exponential-bad-base": generator("exponential", 8, 1),
}


# ----- fuzz_config -----------------------------------------------------------------------------
VARIABLES = ["BLUEFOG_NODES_PER_MACHINE", "BLUEFOG_MATCHING", "BLUEFOG_STALL_WARNING_S",
             "BLUEFOG_FUSION_THRESHOLD", "BLUEFOG_CYCLE_TIME", "BLUEFOG_MAX_WIN_SENT_LENGTH",
             "BLUEFOG_TIMELINE", "BLUEFOG_COMPRESSION", "BLUEFOG_TOPK_RATIO"]


class InitOptions(ctypes.Structure):  # bf_init_options
    _fields_ = [("struct_size", ctypes.c_size_t), ("mpi_comm", ctypes.c_void_p),
                ("nodes_per_machine", ctypes.c_int), ("matching_mode", ctypes.c_int),
                ("stall_warning_s", ctypes.c_double), ("timeline_prefix", ctypes.c_char_p),
                ("fusion_threshold_bytes", ctypes.c_int64), ("cycle_time_ms", ctypes.c_double),
                ("compression", ctypes.c_int), ("topk_ratio", ctypes.c_double)]


def config(null=False, struct_size=None, mpi_comm=0, nodes_per_machine=0, matching_mode=0,
           stall_warning_s=0.0, fusion_threshold_bytes=0, cycle_time_ms=0.0, timeline=None,
           env=None, tail=b"", compression=0, topk_ratio=0.0):
    flags = (1 if null else 0) | (2 if struct_size is not None else 0) | (
        4 if timeline is not None else 0)
    out = bytes([flags])
    if struct_size is not None:
        out += struct.pack("<H", struct_size)
    out += struct.pack("<Qii", mpi_comm, nodes_per_machine, matching_mode)
    out += dbl(stall_warning_s) + struct.pack("<q", fusion_threshold_bytes) + dbl(cycle_time_ms)
    if timeline is not None:
        out += string(timeline)
    out += tail  # bytes of a struct larger than bf_init_options
    env = env or {}
    for name in VARIABLES:
        out += (b"\x01" + string(env[name])) if name in env else b"\x00"
    return out + struct.pack("<i", compression) + dbl(topk_ratio)


VALID_ENV = {"BLUEFOG_NODES_PER_MACHINE": "4", "BLUEFOG_MATCHING": "ordered",
             "BLUEFOG_STALL_WARNING_S": "2.5", "BLUEFOG_FUSION_THRESHOLD": "1048576",
             "BLUEFOG_CYCLE_TIME": "0.5", "BLUEFOG_MAX_WIN_SENT_LENGTH": "1000",
             "BLUEFOG_TIMELINE": "/tmp/timeline-"}
options_size = ctypes.sizeof(InitOptions)
CONFIG_SEEDS = {
    "defaults": config(),
    "null-options": config(null=True),
    "null-options-env": config(null=True, env=VALID_ENV),
    "options-win-over-env": config(nodes_per_machine=2, matching_mode=2, stall_warning_s=60.0,
                                   fusion_threshold_bytes=4096, cycle_time_ms=2.0,
                                   timeline="/tmp/x-", env=VALID_ENV),
    "negative-fields": config(stall_warning_s=-1.0, fusion_threshold_bytes=-1,
                              cycle_time_ms=-0.5),
    "old-caller-16-bytes": config(struct_size=16, nodes_per_machine=9, env=VALID_ENV),
    "old-caller-odd-size": config(struct_size=21, nodes_per_machine=0x01010101),
    "struct-size-too-small": config(struct_size=4),
    "struct-size-zero": config(struct_size=0),
    "newer-caller": config(struct_size=options_size + 16, tail=b"\x01" * 16),
    "bad-matching-mode": config(matching_mode=7),
    "negative-nodes": config(nodes_per_machine=-2),
    "nan-stall": config(stall_warning_s=math.nan),
    "inf-cycle": config(cycle_time_ms=math.inf),
    "env-matching-bogus": config(env={"BLUEFOG_MATCHING": "Ordered"}),
    "env-matching-named": config(env={"BLUEFOG_MATCHING": "named"}),
    "env-empty-values": config(env={name: "" for name in VARIABLES}),
    "env-not-numbers": config(env={"BLUEFOG_NODES_PER_MACHINE": "4x",
                                   "BLUEFOG_STALL_WARNING_S": "abc"}),
    "env-int-overflow": config(env={"BLUEFOG_NODES_PER_MACHINE": "99999999999999999999"}),
    "env-double-overflow": config(env={"BLUEFOG_STALL_WARNING_S": "1e400"}),
    "env-double-inf": config(env={"BLUEFOG_CYCLE_TIME": "inf"}),
    "env-double-nan": config(env={"BLUEFOG_STALL_WARNING_S": "nan"}),
    "env-negative-fusion": config(env={"BLUEFOG_FUSION_THRESHOLD": "-1"}),
    "env-fusion-overflow": config(env={"BLUEFOG_FUSION_THRESHOLD": "9223372036854775808"}),
    "env-win-length-zero": config(env={"BLUEFOG_MAX_WIN_SENT_LENGTH": "0"}),
    "env-embedded-nul": config(env={"BLUEFOG_NODES_PER_MACHINE": b"3\x00junk"}),
    "compression-options": config(compression=5, topk_ratio=0.25),
    "compression-options-win-over-env": config(compression=4, env={"BLUEFOG_COMPRESSION": "topk",
                                                                   "BLUEFOG_TOPK_RATIO": "0.1"}),
    "compression-env": config(env={"BLUEFOG_COMPRESSION": "bf16", "BLUEFOG_TOPK_RATIO": "0.5"}),
    "compression-env-bogus": config(env={"BLUEFOG_COMPRESSION": "INT8"}),
    "compression-bad-enum": config(compression=6),
    "compression-negative-enum": config(compression=-1),
    "topk-ratio-nan": config(topk_ratio=math.nan),
    "topk-ratio-above-one": config(topk_ratio=2.0),
    "topk-ratio-env-above-one": config(env={"BLUEFOG_TOPK_RATIO": "1.5"}),
    "compression-struct-ends-before": config(struct_size=options_size - 8, compression=5,
                                             topk_ratio=-1.0),
}


# ----- fuzz_args -------------------------------------------------------------------------------
class OpArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p)]


class AllreduceArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p),
                ("op", ctypes.c_int), ("machine_local", ctypes.c_int)]


class NeighborArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p),
                ("has_weights", ctypes.c_int), ("self_weight", ctypes.c_double),
                ("src_count", ctypes.c_int), ("src_ranks", ctypes.c_void_p),
                ("src_weights", ctypes.c_void_p), ("dynamic", ctypes.c_int),
                ("dst_count", ctypes.c_int), ("dst_ranks", ctypes.c_void_p),
                ("dst_weights", ctypes.c_void_p), ("check_topology", ctypes.c_int),
                ("compression", ctypes.c_int), ("topk_ratio", ctypes.c_double),
                ("error_feedback", ctypes.c_int), ("consensus_step", ctypes.c_double)]


class WinOpArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("has_self_weight", ctypes.c_int),
                ("self_weight", ctypes.c_double), ("has_ranks", ctypes.c_int),
                ("count", ctypes.c_int), ("ranks", ctypes.c_void_p),
                ("weights", ctypes.c_void_p), ("require_mutex", ctypes.c_int)]


class WinUpdateArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("has_weights", ctypes.c_int),
                ("self_weight", ctypes.c_double), ("count", ctypes.c_int),
                ("ranks", ctypes.c_void_p), ("weights", ctypes.c_void_p),
                ("reset", ctypes.c_int), ("require_mutex", ctypes.c_int)]


ARG_STRUCTS = [("op", OpArgs), ("allreduce", AllreduceArgs), ("neighbor", NeighborArgs),
               ("win-op", WinOpArgs), ("win-update", WinUpdateArgs)]


def args(which, struct_size, body=b"", null=False, zero_tail=False):
    flags = (1 if null else 0) | (2 if zero_tail else 0)
    return struct.pack("<BBH", which, flags, struct_size) + body


def neighbor_body():
    args_struct = NeighborArgs(ctypes.sizeof(NeighborArgs), None, 1, 0.5, 2, 0x1000, 0x2000, 1,
                               2, 0x3000, None, 1)
    return bytes(args_struct)[8:]


ARGS_SEEDS = {}
for index, (label, struct_type) in enumerate(ARG_STRUCTS):
    size = ctypes.sizeof(struct_type)
    ARGS_SEEDS[f"{label}-exact"] = args(index, size, bytes(range(1, size - 7)))
    ARGS_SEEDS[f"{label}-null"] = args(index, 0, null=True)
    ARGS_SEEDS[f"{label}-newer-zero-tail"] = args(index, size + 24, bytes(range(1, size - 7)),
                                                  zero_tail=True)
ARGS_SEEDS.update({
    "neighbor-realistic": args(2, ctypes.sizeof(NeighborArgs), neighbor_body()),
    "neighbor-old-caller-16": args(2, 16, b"\x07" * 8),
    "neighbor-odd-size": args(2, 13, b"\x01\x02\x03\x04\x05"),
    "neighbor-size-zero": args(2, 0),
    "neighbor-size-7": args(2, 7),
    "neighbor-newer-nonzero-tail": args(2, ctypes.sizeof(NeighborArgs) + 8,
                                        b"\x00" * (ctypes.sizeof(NeighborArgs) - 8) + b"\x00" * 7
                                        + b"\x01"),
    "neighbor-huge-size": args(2, 65535, zero_tail=True),
    "allreduce-bad-op": args(1, ctypes.sizeof(AllreduceArgs), b"\x00" * 8 + b"\x05\x00\x00\x00"),
})

# ----- fuzz_compression ------------------------------------------------------------------------
ENCODINGS = {"raw": 0, "bf16": 1, "fp16": 2, "int8": 3, "topk": 4}
DTYPES = {"f32": (0, "<f"), "f64": (1, "<d"), "f16": (2, "<e")}


def compression(encoding, dtype, values, kept=0, decode=False, wire=b""):
    code, fmt = DTYPES[dtype]
    head = struct.pack("<BBBHH", 1 if decode else 0, ENCODINGS[encoding], code, len(values), kept)
    body = wire if decode else b"".join(struct.pack(fmt, v) for v in values)
    return head + body


RAMP = [0.37 * i - 20.0 for i in range(300)]
SPECIAL = [0.0, -0.0, 1e-40, -3.5, math.inf, 7.0, math.nan, -math.inf, 65504.0, 65520.0]
COMPRESSION_SEEDS = {
    "int8-ramp-f32": compression("int8", "f32", RAMP),
    "int8-ramp-f64": compression("int8", "f64", RAMP),
    "int8-special": compression("int8", "f32", SPECIAL * 30),
    "int8-huge-f64": compression("int8", "f64", [1e308, -2e300, 5.0] * 3),
    "int8-tiny-f64": compression("int8", "f64", [1e-300, -2e-310, 5e-320] * 3),
    "bf16-ramp": compression("bf16", "f32", RAMP),
    "bf16-special": compression("bf16", "f64", SPECIAL + [1e39, 3.4e38]),
    "fp16-special": compression("fp16", "f32", SPECIAL + [6e-8, 3e-8, 1e-5]),
    "fp16-f16-tensor": compression("fp16", "f16", [1.5, -2.25, 65504.0, 0.0001]),
    "topk-ramp": compression("topk", "f32", RAMP, kept=30),
    "topk-ties": compression("topk", "f64", [1.0, -1.0] * 50, kept=7),
    "topk-nan-first": compression("topk", "f32", SPECIAL, kept=2),
    "topk-all": compression("topk", "f16", [0.5, -4.0, 2.0], kept=3),
    "raw-special": compression("raw", "f64", SPECIAL),
    "empty": compression("int8", "f32", []),
    "decode-topk-bad-index": compression("topk", "f32", [0.0] * 8, kept=2, decode=True,
                                         wire=struct.pack("<IIff", 3, 99, 1.0, 2.0)),
    "decode-int8-nan-scale": compression("int8", "f32", [0.0] * 4, decode=True,
                                         wire=struct.pack("<f", math.nan) + b"\x7f\x81\x00\x01"),
    "decode-short-wire": compression("bf16", "f64", [0.0] * 64, decode=True, wire=b"\x01\x02"),
}

CORPORA = {"tensor": TENSOR_SEEDS, "topology": TOPOLOGY_SEEDS, "config": CONFIG_SEEDS,
           "args": ARGS_SEEDS, "compression": COMPRESSION_SEEDS}


def main():
    for harness, seeds in CORPORA.items():
        directory = os.path.join(ROOT, harness)
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):  # stale seeds go; regress-* inputs stay
            if name.startswith("seed-") and name[len("seed-"):] not in seeds:
                os.remove(os.path.join(directory, name))
        for name, data in seeds.items():
            with open(os.path.join(directory, "seed-" + name), "wb") as out:
                out.write(data)
        print(f"{harness}: {len(seeds)} seeds in {os.path.relpath(directory)}")


if __name__ == "__main__":
    main()
