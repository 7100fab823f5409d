"""Compiled ray loops that call Embree 4 directly (numba): one ``rtcIntersect1`` per ray,
or ``rtcIntersect16`` per packet of 16, through the function's address.

The library functions are called through an address passed in as an integer (an LLVM
call through a pointer, :func:`_call3` / :func:`_call4`), not through a ctypes object
that numba would bake into the compiled code: the kernels stay cacheable although the
library lands at a different address in every process.

The record layouts are Embree 4's (``embree4/rtcore_ray.h``), in 4-byte words:

- ``RTCRayHit`` (one ray, 16-byte aligned): ray ``org_x, org_y, org_z, tnear, dir_x,
  dir_y, dir_z, time, tfar, mask, id, flags`` (words 0-11), hit ``Ng_x, Ng_y, Ng_z, u, v,
  primID, geomID, instID[1], instPrimID[1]`` (words 12-20), padded to 96 bytes.
- ``RTCRayHit16`` (64-byte aligned): the same fields, each an array of 16 (structure of
  arrays): ray words 0-191, hit words 192-335 (1344 bytes).

Every kernel here is ``nogil``: :mod:`printprep.mesh.embree` runs them on one thread per
core over slices of the rays. Embree's own threads only build the BVH.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Embree's "no geometry / no primitive" id (RTC_INVALID_GEOMETRY_ID).
INVALID_ID = np.uint32(0xFFFFFFFF)
#: A geomID no scene uses: what a second scene's trace leaves when it finds nothing nearer.
MARK_ID = np.uint32(0xFFFFFFFE)
#: Words of one RTCRayHit as laid out here (96 bytes: room for instPrimID).
RAYHIT_WORDS = 24
#: Words of one RTCRayHit16 (1344 bytes).
RAYHIT16_WORDS = 336
#: Word offsets of the hit record in RTCRayHit and RTCRayHit16.
HIT_WORD = 12
HIT16_WORD = 192


@intrinsic
def _call3(typingctx, fn, a, b, c):  # noqa: ARG001 - numba's intrinsic signature
    """Call ``void fn(void*, void*, void*)`` at address ``fn`` (all four intp)."""
    sig = types.void(types.intp, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # noqa: ARG001
        ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [ptr, ptr, ptr])
        target = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(target, [builder.inttoptr(x, ptr) for x in args[1:]])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _call4(typingctx, fn, a, b, c, d):  # noqa: ARG001 - numba's intrinsic signature
    """Call ``void fn(void*, void*, void*, void*)`` at address ``fn`` (all five intp)."""
    sig = types.void(types.intp, types.intp, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # noqa: ARG001
        ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [ptr, ptr, ptr, ptr])
        target = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(target, [builder.inttoptr(x, ptr) for x in args[1:]])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _aligned_words(n_words, align_bytes):
    """A float32 scratch of ``n_words`` words starting on an ``align_bytes`` boundary:
    returns (its float32 view, its uint32 view, its address)."""
    raw = np.zeros(n_words + align_bytes // 4, dtype=np.float32)
    addr = raw.ctypes.data
    skip = ((align_bytes - addr % align_bytes) % align_bytes) // 4
    f = raw[skip:skip + n_words]
    return f, f.view(np.uint32), addr + skip * 4


@numba.njit(cache=True, nogil=True)
def trace1(fn, scene, scene2, offset2, origins, directions, tfar, tnear, order, lo, hi, face, dist):
    """First hits of rays ``order[lo:hi]`` (of rays ``lo..hi`` when ``order`` is (0,)) by
    ``rtcIntersect1`` one ray at a time.

    fn, scene : addresses of ``rtcIntersect1`` and the committed RTCScene (int); scene2 :
    a second committed scene (0: none) whose face ids count from ``offset2``; each ray is
    traced in ``scene`` and then in ``scene2`` with its tfar cut at the first hit, so a
    face of ``scene2`` wins only when it is hit nearer. origins, directions : (r, 3)
    float32 mm (directions unit length); tfar : (r,) float32 mm or (0,) for unbounded;
    tnear : float, mm; order : (r,) int64 the order to trace the rays in (see
    :func:`coherent_order`) or (0,). Writes face[i] (int64, -1 for a miss) and, when dist
    has r rows, dist[i] (float64 mm, inf for a miss) of each ray i traced. numpy reading:
    for each ray, the nearest triangle t = argmin over faces hit of the ray parameter in
    [tnear, tfar], as Embree's watertight test finds it.
    """
    f, u, addr = _aligned_words(RAYHIT_WORDS, 64)
    bounded = tfar.shape[0] > 0
    want_dist = dist.shape[0] > 0
    ordered = order.shape[0] > 0
    for j in range(lo, hi):
        i = order[j] if ordered else j
        f[0] = origins[i, 0]
        f[1] = origins[i, 1]
        f[2] = origins[i, 2]
        f[3] = tnear
        f[4] = directions[i, 0]
        f[5] = directions[i, 1]
        f[6] = directions[i, 2]
        f[7] = 0.0
        f[8] = tfar[i] if bounded else np.inf
        u[9] = INVALID_ID  # mask: every geometry
        u[10] = 0
        u[11] = 0
        u[HIT_WORD + 6] = INVALID_ID  # geomID
        u[HIT_WORD + 7] = INVALID_ID  # instID[0]
        _call3(fn, scene, addr, 0)
        prim = np.int64(u[HIT_WORD + 5])
        missed = u[HIT_WORD + 6] == INVALID_ID
        if scene2 != 0:
            u[HIT_WORD + 6] = MARK_ID  # left alone unless scene2 has a nearer hit
            _call3(fn, scene2, addr, 0)
            if u[HIT_WORD + 6] != MARK_ID:
                prim = np.int64(u[HIT_WORD + 5]) + offset2
                missed = False
        if missed:
            face[i] = -1
            if want_dist:
                dist[i] = np.inf
        else:
            face[i] = prim
            if want_dist:
                dist[i] = f[8]


@numba.njit(cache=True, nogil=True)
def trace16(fn, scene, origins, directions, tfar, tnear, lo, hi, face, dist):
    """:func:`trace1`'s result by ``rtcIntersect16``: rays ``lo..hi`` in packets of 16
    (the last packet masked). Same arguments and outputs as :func:`trace1`."""
    f, u, addr = _aligned_words(RAYHIT16_WORDS, 64)
    _, vu, vaddr = _aligned_words(16, 64)
    valid = vu.view(np.int32)
    bounded = tfar.shape[0] > 0
    want_dist = dist.shape[0] > 0
    for start in range(lo, hi, 16):
        k = min(16, hi - start)
        for j in range(16):
            i = start + j if j < k else start
            valid[j] = -1 if j < k else 0
            f[j] = origins[i, 0]
            f[16 + j] = origins[i, 1]
            f[32 + j] = origins[i, 2]
            f[48 + j] = tnear
            f[64 + j] = directions[i, 0]
            f[80 + j] = directions[i, 1]
            f[96 + j] = directions[i, 2]
            f[112 + j] = 0.0
            f[128 + j] = tfar[i] if bounded else np.inf
            u[144 + j] = INVALID_ID
            u[160 + j] = 0
            u[176 + j] = 0
            u[HIT16_WORD + 96 + j] = INVALID_ID  # geomID
            u[HIT16_WORD + 112 + j] = INVALID_ID  # instID[0]
        _call4(fn, vaddr, scene, addr, 0)
        for j in range(k):
            i = start + j
            if u[HIT16_WORD + 96 + j] == INVALID_ID:
                face[i] = -1
                if want_dist:
                    dist[i] = np.inf
            else:
                face[i] = u[HIT16_WORD + 80 + j]
                if want_dist:
                    dist[i] = f[128 + j]


@numba.njit(cache=True, nogil=True)
def _spread5(x):
    """The low 5 bits of ``x`` spread to every third bit (bits 0, 3, 6, 9, 12)."""
    x &= 0x1F
    x = (x | (x << 8)) & 0x100F
    x = (x | (x << 4)) & 0x10C3
    return (x | (x << 2)) & 0x1249


@numba.njit(cache=True, nogil=True)
def coherent_order(points):
    """The rays in an order that keeps neighbours together: (r,) int64, a permutation of
    0..r-1 sorting ``points`` (r, 3) float32 mm (the ray origins) by the 15-bit Morton
    code of their cell in a 32³ grid over their bounds, ties in input order. numpy
    reading (float64): ``q = clip(floor((p - lo) * (31 / (hi - lo))), 0, 31)`` (0 on an
    axis without extent), ``code = interleave(q_x, q_y, q_z)`` (x in bit 0),
    ``argsort(code, kind="stable")``. One counting sort, ~20 ms per million points.

    Rays traced in this order share their way down the BVH with the rays before them
    (its nodes are still in cache): on the 1.35M band's face rays 14 % less CPU than in
    face order, this sort included (a finer grid, 1024³, gains no more).
    """
    r = points.shape[0]
    lx = ly = lz = np.inf
    hx = hy = hz = -np.inf
    for i in range(r):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        lx, hx = min(lx, x), max(hx, x)
        ly, hy = min(ly, y), max(hy, y)
        lz, hz = min(lz, z), max(hz, z)
    sx = 31.0 / (np.float64(hx) - lx) if hx > lx else 0.0
    sy = 31.0 / (np.float64(hy) - ly) if hy > ly else 0.0
    sz = 31.0 / (np.float64(hz) - lz) if hz > lz else 0.0
    code = np.empty(r, dtype=np.int16)
    count = np.zeros(1 << 15, dtype=np.int64)
    for i in range(r):
        qx = min(max(np.int64((np.float64(points[i, 0]) - lx) * sx), 0), 31)
        qy = min(max(np.int64((np.float64(points[i, 1]) - ly) * sy), 0), 31)
        qz = min(max(np.int64((np.float64(points[i, 2]) - lz) * sz), 0), 31)
        c = _spread5(qx) | (_spread5(qy) << 1) | (_spread5(qz) << 2)
        code[i] = np.int16(c)
        count[c] += 1
    total = 0
    for b in range(1 << 15):
        n = count[b]
        count[b] = total
        total += n
    order = np.empty(r, dtype=np.int64)
    for i in range(r):
        c = np.int64(code[i])
        order[count[c]] = i
        count[c] += 1
    return order
