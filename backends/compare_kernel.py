"""kf's own kernel that compares a candidate's output with the original's on the device.

A 1.6 GB output (an LLM's logits softmax) compared on the host cost 6-7 s on an H100 host:
the copy back, the poison mask, an equality test and the float64 comparison, three times per
evaluation and once more per timed trial. The same comparison on the device reads both buffers
once, at memory bandwidth. The element rule is verify.compare_output's, in the same float64
arithmetic (no fused multiply-add, so the tolerance of each element is the host's to the
bit), and what it returns is counts and maxima, not positions: the harness uses it to pass an
output (no element outside the tolerance, none unwritten) with the very figures the host would
report, and sends anything else to the host comparison, which says what and where.

The element check is written once here; each runtime wraps it in its own kernel
(backends/cuda/session.py, backends/sycl/session.py) with KF_FN, KF_D2U, KF_U2D, KF_MUL,
KF_ADD, KF_SUB and KF_DIV defined for it, and reduces the per-thread figures with atomics.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# element types the kernel reads, by kf's scalar names (backends/kernel/dtypes.py): the code it is passed
KINDS = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3, "i8": 4, "u8": 5, "i16": 6, "u16": 7, "i32": 8, "u32": 9,
         "i64": 10, "u64": 11}
ITEMSIZE = {"f32": 4, "f64": 8, "f16": 2, "bf16": 2, "i8": 1, "u8": 1, "i16": 2, "u16": 2, "i32": 4, "u32": 4,
            "i64": 8, "u64": 8}
SLOTS = 8  # 64-bit words of the result, in Stats' order

ELEMENT_SOURCE = r"""
// one element's raw bits (zero-extended) as a double, exactly as NumPy's astype(float64)
KF_FN double kf_value(unsigned long long b, int kind) {
  switch (kind) {
    case 0: {  // float: widen the bits
      unsigned long long s = (b >> 31) & 1, e = (b >> 23) & 0xff, m = b & 0x7fffff;
      if (e == 0xff) return KF_U2D((s << 63) | (0x7ffull << 52) | (m << 29));
      if (e == 0) return (s ? -1.0 : 1.0) * (double)m * 1.401298464324817e-45;  // m x 2^-149, exact
      return KF_U2D((s << 63) | ((e - 127 + 1023) << 52) | (m << 29));
    }
    case 1: return KF_U2D(b);
    case 2: {  // IEEE half
      unsigned long long s = (b >> 15) & 1, e = (b >> 10) & 0x1f, m = b & 0x3ff;
      if (e == 0x1f) return KF_U2D((s << 63) | (0x7ffull << 52) | (m << 42));
      if (e == 0) return (s ? -1.0 : 1.0) * (double)m * 5.9604644775390625e-08;  // m x 2^-24, exact
      return KF_U2D((s << 63) | ((e - 15 + 1023) << 52) | (m << 42));
    }
    case 3: {  // bfloat16: the top half of a float
      unsigned long long f = b << 16;
      unsigned long long s = (f >> 31) & 1, e = (f >> 23) & 0xff, m = f & 0x7fffff;
      if (e == 0xff) return KF_U2D((s << 63) | (0x7ffull << 52) | (m << 29));
      if (e == 0) return (s ? -1.0 : 1.0) * (double)m * 1.401298464324817e-45;
      return KF_U2D((s << 63) | ((e - 127 + 1023) << 52) | (m << 29));
    }
    case 4: return (double)(signed char)(unsigned char)b;
    case 5: return (double)(unsigned char)b;
    case 6: return (double)(short)(unsigned short)b;
    case 7: return (double)(unsigned short)b;
    case 8: return (double)(int)(unsigned int)b;
    case 9: return (double)(unsigned int)b;
    case 10: return (double)(long long)b;
    default: return (double)b;
  }
}

KF_FN unsigned long long kf_bits(const unsigned char* p, unsigned long long i, int size) {
  switch (size) {
    case 1: return p[i];
    case 2: return ((const unsigned short*)p)[i];
    case 4: return ((const unsigned int*)p)[i];
    default: return ((const unsigned long long*)p)[i];
  }
}

// an integer's raw bits as an unsigned word in the same order (signed: sign-extended, the sign
// bit flipped), so that the difference of two is exact: float64 cannot tell 2^60 from 2^60 + 1
KF_FN unsigned long long kf_ordered(unsigned long long b, int kind) {
  const unsigned long long top = 0x8000000000000000ull;
  switch (kind) {
    case 4: return (unsigned long long)(long long)(signed char)(unsigned char)b ^ top;
    case 6: return (unsigned long long)(long long)(short)(unsigned short)b ^ top;
    case 8: return (unsigned long long)(long long)(int)(unsigned int)b ^ top;
    case 10: return b ^ top;
    default: return b;
  }
}

KF_FN bool kf_finite(double x) { return ((KF_D2U(x) >> 52) & 0x7ff) != 0x7ff; }
KF_FN bool kf_nan(double x) { return !kf_finite(x) && (KF_D2U(x) & 0xfffffffffffffull) != 0; }
KF_FN double kf_abs(double x) { return KF_U2D(KF_D2U(x) & 0x7fffffffffffffffull); }
KF_FN double kf_max(double a, double b) { return b > a ? b : a; }

// the per-thread figures, reduced by the runtime's kernel into Stats' eight words
struct kf_close_acc {
  unsigned long long ref_poison, unwritten, bad, nonfinite, compared;
  double max_abs, max_rel, excess;
};

// verify.compare_output's rule for element i: where the reference holds the poison (it wrote
// nothing there) nothing is asked; else the candidate's poison is an unwritten element; two
// finite values within atol + rtol x |expected| pass, NaN matches NaN, an infinity itself;
// integers by their exact difference (verify._measure_integers)
KF_FN void kf_close_one(const unsigned char* ref, const unsigned char* cand, unsigned long long i, int kind,
                        int size, double atol, double rtol, int poisoned, unsigned long long poison,
                        kf_close_acc* a) {
  unsigned long long rb = kf_bits(ref, i, size), cb = kf_bits(cand, i, size);
  if (poisoned && rb == poison) { a->ref_poison++; return; }
  if (poisoned && cb == poison) { a->unwritten++; return; }
  a->compared++;
  double e = kf_value(rb, kind), g = kf_value(cb, kind);
  bool close;
  if (kind >= 4) {  // integers: the difference exactly, within where it is at most floor(tol)
    unsigned long long eo = kf_ordered(rb, kind), go = kf_ordered(cb, kind);
    unsigned long long d = go >= eo ? go - eo : eo - go;
    double diff = (double)d;
    double mag = kf_abs(e);
    double tol = KF_ADD(atol, KF_MUL(rtol, mag));
    close = tol >= 18446744073709551616.0 || d <= (unsigned long long)tol;
    a->max_abs = kf_max(a->max_abs, diff);
    if (mag > 0) a->max_rel = kf_max(a->max_rel, KF_DIV(diff, mag));
    double ratio = d == 0 ? 0.0 : (tol > 0 ? KF_DIV(diff, tol) : KF_U2D(0x7ff0000000000000ull));
    a->excess = kf_max(a->excess, ratio);
  } else if (kf_finite(e) && kf_finite(g)) {
    double diff = kf_abs(KF_SUB(g, e));
    double mag = kf_abs(e);
    double tol = KF_ADD(atol, KF_MUL(rtol, mag));
    close = diff <= tol;
    a->max_abs = kf_max(a->max_abs, diff);
    if (mag > 0) a->max_rel = kf_max(a->max_rel, KF_DIV(diff, mag));
    double ratio = diff == 0 ? 0.0 : (tol > 0 ? KF_DIV(diff, tol) : KF_U2D(0x7ff0000000000000ull));
    a->excess = kf_max(a->excess, ratio);
  } else {
    close = (kf_nan(e) && kf_nan(g)) || (!kf_finite(e) && !kf_nan(e) && KF_D2U(g) == KF_D2U(e));
    if (!close) a->nonfinite++;
  }
  if (!close) a->bad++;
}

// elements first, first + step, ... below n: the loop is written once per element type, with its
// kind and size constant, so the compiler keeps only that type's code in it. The SYCL kernel uses
// it: with the switch inside the loop, the CPU device compared at a quarter to an eighth of the
// speed (slower than the host's NumPy). A GPU is bound by memory either way, and the twelve loops
// quadrupled ptxas's time for the CUDA kernel, which keeps the switch per element.
KF_FN void kf_close_range(const unsigned char* ref, const unsigned char* cand, unsigned long long first,
                          unsigned long long step, unsigned long long n, int kind, double atol, double rtol,
                          int poisoned, unsigned long long poison, kf_close_acc* a) {
#define KF_CLOSE_LOOP(K, S) \
  for (unsigned long long j = first; j < n; j += step) kf_close_one(ref, cand, j, K, S, atol, rtol, poisoned, poison, a); \
  break;
  switch (kind) {
    case 0: KF_CLOSE_LOOP(0, 4)
    case 1: KF_CLOSE_LOOP(1, 8)
    case 2: KF_CLOSE_LOOP(2, 2)
    case 3: KF_CLOSE_LOOP(3, 2)
    case 4: KF_CLOSE_LOOP(4, 1)
    case 5: KF_CLOSE_LOOP(5, 1)
    case 6: KF_CLOSE_LOOP(6, 2)
    case 7: KF_CLOSE_LOOP(7, 2)
    case 8: KF_CLOSE_LOOP(8, 4)
    case 9: KF_CLOSE_LOOP(9, 4)
    case 10: KF_CLOSE_LOOP(10, 8)
    default: KF_CLOSE_LOOP(11, 8)
  }
#undef KF_CLOSE_LOOP
}
"""


class Stats(NamedTuple):
    """What the device comparison found over a whole buffer."""

    ref_poison: int  # elements the reference left unwritten (nothing asked of the candidate there)
    unwritten: int  # elements the reference wrote and the candidate did not
    bad: int  # compared elements outside the tolerance (NaN/Inf mismatches included)
    nonfinite: int  # of those, a NaN/Inf on one side only (or another NaN/Inf)
    compared: int
    max_abs: float  # over the elements finite on both sides
    max_rel: float
    excess: float  # the largest error in multiples of its tolerance (inf where a tolerance is 0)


def stats(words: np.ndarray) -> Stats:
    """Stats from the kernel's eight 64-bit result words (maxima as the bits of non-negative doubles)."""
    w = np.asarray(words, dtype=np.uint64)
    d = w[5:8].view(np.float64)
    return Stats(int(w[0]), int(w[1]), int(w[2]), int(w[3]), int(w[4]), float(d[0]), float(d[1]), float(d[2]))


def poison_word(pattern: bytes) -> int:
    """A poison pattern (dtypes.poison_pattern) as the zero-extended word kf_bits reads."""
    return int.from_bytes(pattern, "little")
