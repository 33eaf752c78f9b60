#!/usr/bin/env python3
"""Reference values for the judge's tests, computed independently of the Go
code with scipy and numpy (Debian's python3-scipy: scipy 1.10.1, numpy 1.24.2).

Run: /usr/bin/python3 analysis/judge/testdata/reference.py

It prints the data sets and the numbers that reference_test.go records.
The confidence intervals are found by inverting scipy's Mann-Whitney test
(the definition of the Moses interval), not from the rank formula the Go
code uses, so they check that formula too.
"""
import random

import numpy as np
import scipy
from scipy.stats import mannwhitneyu


def go(name, v):
    print(f"{name} = []float64{{{', '.join(repr(float(a)) for a in v)}}}")


def sample(rng, n, mu, sd):
    return [round(rng.gauss(mu, sd), 3) for _ in range(n)]


def distinct(*vs):
    pooled = [a for v in vs for a in v]
    return len(set(pooled)) == len(pooled)


def ci_by_inversion(x, y, conf):
    """The Moses interval as the set of shifts d for which the two-sided
    asymptotic Mann-Whitney test (continuity-corrected) of y-d against x does
    not reject at 1-conf; probes the midpoints between sorted differences."""
    d = np.sort(np.subtract.outer(np.asarray(y), np.asarray(x)).ravel())
    alpha = 1 - conf
    mids = (d[:-1] + d[1:]) / 2
    ok = [mannwhitneyu(np.asarray(y) - m, x, method="asymptotic",
                       use_continuity=True).pvalue > alpha for m in mids]
    idx = [i for i, a in enumerate(ok) if a]
    # gap i lies between d[i] and d[i+1]
    return d[idx[0]], d[idx[-1] + 1]


print("scipy", scipy.__version__, "numpy", np.__version__)
rng = random.Random(20240611)

# Hand-checkable example (see the Go test for the ranks).
print("hand exact:", mannwhitneyu([3, 5, 6], [1, 2, 4], method="exact"))

# Ties, normal approximation with tie and continuity correction.
tx = [1, 2, 2, 3, 4, 5, 5, 5, 8]
ty = [3, 3, 4, 5, 6, 7, 7, 9, 9, 10]
print("ties asymptotic:", mannwhitneyu(ty, tx, method="asymptotic"))
print("ties HL estimate:", np.median(np.subtract.outer(ty, tx)))

# Distinct samples, n=20, m=25: exact and asymptotic p, HL and its intervals.
while True:
    ax = sample(rng, 20, 10, 2)
    ay = sample(rng, 25, 11.5, 2)
    if distinct(ax, ay):
        break
go("refX", ax)
go("refY", ay)
print("exact:", mannwhitneyu(ay, ax, method="exact"))
print("asymptotic:", mannwhitneyu(ay, ax, method="asymptotic"))
print("HL estimate:", repr(float(np.median(np.subtract.outer(ay, ax)))))
for conf in (0.98, 0.90, 0.5):
    lo, hi = ci_by_inversion(ax, ay, conf)
    print(f"CI {conf}:", repr(float(lo)), repr(float(hi)))

# Larger, n=40, m=60 (beyond the exact range): asymptotic p, HL, intervals.
while True:
    bx = sample(rng, 40, 100, 15)
    by = sample(rng, 60, 96, 15)
    if distinct(bx, by):
        break
go("bigX", bx)
go("bigY", by)
print("big asymptotic:", mannwhitneyu(by, bx, method="asymptotic"))
print("big HL estimate:", repr(float(np.median(np.subtract.outer(by, bx)))))
for conf in (0.98, 0.95):
    lo, hi = ci_by_inversion(bx, by, conf)
    print(f"big CI {conf}:", repr(float(lo)), repr(float(hi)))

# Tukey fences on numpy's default (type 7) quartiles.
o = [1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 30.0]
q1, q3 = np.percentile(o, [25, 75])
print("outlier quartiles:", q1, q3, "fences k=3:", q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1))
