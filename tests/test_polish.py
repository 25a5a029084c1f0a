"""The exact QP polish: from a rough or wrong starting point it reaches the optimum."""

import highspy
import numpy as np
import pytest
import scipy.sparse as sp

from blocmodel.polish import QP, polish


def transport_qp(seed, sources=5, sinks=8, tied=False):
    """Sources with supply curves, sinks with demand curves, a route between every pair:
    min Σ ½ s²/b − (a/b)·s + Σ ½ d²/β − choke·d + Σ c·x,  s_i = Σ_j x_ij,  d_j = Σ_i x_ij."""
    rng = np.random.default_rng(seed)
    n_flow = sources * sinks
    cost = np.full(n_flow, 0.1) if tied else rng.uniform(0.05, 0.5, n_flow)
    h = np.concatenate([rng.uniform(0.5, 2, sources), rng.uniform(0.5, 2, sinks), np.zeros(n_flow)])
    g = np.concatenate([-rng.uniform(0, 1, sources), -rng.uniform(2, 4, sinks), cost])
    rows, cols, vals = [], [], []
    for i in range(sources):
        rows.append(i); cols.append(i); vals.append(1.0)
    for j in range(sinks):
        rows.append(sources + j); cols.append(sources + j); vals.append(-1.0)
    for i in range(sources):
        for j in range(sinks):
            k = sources + sinks + i * sinks + j
            rows += [i, sources + j]; cols += [k, k]; vals += [-1.0, 1.0]
    m = sources + sinks
    A = sp.csc_matrix((vals, (rows, cols)), shape=(m, len(h)))
    return QP(h, g, A, np.zeros(m), np.zeros(m), np.zeros(len(h)), np.full(len(h), np.inf))


def kkt(qp, x, y):
    r = qp.h * x + qp.g - qp.A.T @ y
    at_lower = x <= qp.lower
    return max(np.abs(r[~at_lower]).max(), (-r[at_lower]).max(initial=0.0), np.abs(qp.A @ x - qp.row_lower).max())


def objective(qp, x):
    return 0.5 * (qp.h * x * x).sum() + qp.g @ x


def highs_solve(qp):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = qp.A.shape[1], qp.A.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = qp.g, qp.lower, qp.upper
    lp.row_lower_, lp.row_upper_ = qp.row_lower, qp.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = qp.A.indptr, qp.A.indices, qp.A.data
    h.passModel(lp)
    n = len(qp.h)
    h.passHessian(n, n, highspy.HessianFormat.kTriangular, np.arange(n + 1, dtype=np.int32), np.arange(n, dtype=np.int32), qp.h)
    h.run()
    s = h.getSolution()
    return np.array(s.col_value), np.array(s.row_dual)


@pytest.mark.parametrize("seed", range(8))
def test_polish_reaches_the_exact_optimum_from_the_solver(seed):
    qp = transport_qp(seed)
    x0, y0 = highs_solve(qp)
    p = polish(qp, x0, y0)
    assert p.ok
    assert kkt(qp, p.x, p.y) < 1e-12
    assert objective(qp, p.x) <= objective(qp, x0) + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_polish_from_a_wrong_active_set(seed):
    """Start from a feasible point that ships along arbitrary routes (a wrong active set):
    the primal active-set method still ends at an optimum with the same objective."""
    qp = transport_qp(seed, tied=seed % 2 == 1)
    x_best, y_best = highs_solve(qp)
    best = polish(qp, x_best, y_best)
    # Feasible start: every source ships 0.1 to the first sink only.
    x0 = np.zeros(len(qp.h))
    sources, sinks = 5, 8
    for i in range(sources):
        x0[i] = 0.1
        x0[sources + sinks + i * sinks] = 0.1
    x0[sources] = 0.1 * sources
    p = polish(qp, x0, np.zeros(qp.A.shape[0]))
    assert p.ok
    assert kkt(qp, p.x, p.y) < 1e-12
    assert objective(qp, p.x) == pytest.approx(objective(qp, best.x), abs=1e-12)
    # prices are unique even where flows are not (tied routes)
    assert np.allclose(p.y, best.y, atol=1e-10)
