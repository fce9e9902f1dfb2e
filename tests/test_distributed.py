"""DaskObjective against the in-process Objective, faults and errors."""

import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.optimize as so

import bpopt

distributed = pytest.importorskip("distributed")

from bpopt._losses import SquaredError  # noqa: E402
from bpopt.distributed import DaskObjective, ShardError  # noqa: E402

CASES = {
    # name: (sizes, loss, weighted, l2)
    "softmax-weighted-l2": ([5, 7, 3], "softmax_cross_entropy", True, 1e-3),
    "squared-relu": ([5, 6, 4, 2], "squared_error", False, 0.0),
    "sigmoid-weighted": ([5, 4, 1], "sigmoid_cross_entropy", True, 1e-2),
}


def make_data(sizes, loss, weighted, n=203, seed=0):
    """Random inputs and targets for ``loss``; ``n`` is odd so shards differ."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0]))
    k = sizes[-1]
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, k, n)
    elif loss == "sigmoid_cross_entropy":
        y = (rng.uniform(size=(n, k)) < 0.5).astype(float)
    else:
        y = rng.normal(size=(n, k))
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    return X, y, w


def make_net(sizes, loss):
    return bpopt.MLP(sizes, activation="relu" if loss == "squared_error" else "tanh")


def assert_close(actual, expected):
    """Equal to 1e-12 relative to the largest entry."""
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)


@pytest.fixture(scope="module")
def client():
    """In-process workers with two threads each: quick to start, and Dask may
    run consecutive tasks on different threads."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2,
                                  processes=False, dashboard_address=":0") as c, \
            distributed.Client(c) as client:
        yield client


@pytest.fixture(scope="module")
def process_cluster():
    """Two single-threaded worker processes that a test may kill."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=True, dashboard_address=":0") as c:
        yield c


@pytest.fixture
def process_client(process_cluster):
    with distributed.Client(process_cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


# agreement with Objective

@pytest.mark.parametrize("n_shards", [1, 2, 3, 7])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_objective(client, case, n_shards):
    sizes, loss, weighted, l2 = CASES[case]
    X, y, w = make_data(sizes, loss, weighted)
    net = make_net(sizes, loss)
    rng = np.random.default_rng(1)
    theta, v = net.init(seed=2), rng.normal(size=net.n_params)
    ref = bpopt.Objective(net, X, y, loss, l2=l2, sample_weight=w)
    with DaskObjective(net, X, y, loss, l2=l2, sample_weight=w, client=client,
                       n_shards=n_shards) as obj:
        assert obj.n_shards == n_shards and obj.n_samples == len(X)
        assert obj.n_params == net.n_params
        assert_close(obj.loss(theta), ref.loss(theta))
        assert_close(obj.grad(theta), ref.grad(theta))
        out = np.empty(net.n_params)
        f, g = obj.loss_and_grad(theta, out=out)
        assert g is out
        assert_close(f, ref.loss(theta))
        assert_close(g, ref.grad(theta))
        assert_close(obj.hessp(theta, v), ref.hessp(theta, v))
        assert_close(obj.gnvp(theta, v, damping=0.5),
                     ref.gnvp(theta, v, damping=0.5))
        assert_close(obj.squared_grads(theta), ref.squared_grads(theta))


def test_float32_matches_objective(client):
    X, y, w = make_data([5, 7, 3], "softmax_cross_entropy", True)
    net = make_net([5, 7, 3], "softmax_cross_entropy")
    theta = net.init(seed=0)
    ref = bpopt.Objective(net, X, y, "softmax_cross_entropy", sample_weight=w,
                          dtype=np.float32)
    with DaskObjective(net, X, y, "softmax_cross_entropy", sample_weight=w,
                       client=client, n_shards=3, dtype=np.float32) as obj:
        f, g = obj.loss_and_grad(theta)
        f_ref, g_ref = ref.loss_and_grad(theta)
    assert g.dtype == np.float64
    np.testing.assert_allclose(f, f_ref, rtol=1e-5)
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5 * np.abs(g_ref).max())


def test_large_vectors_are_scattered(client):
    # 184k parameters, 1.5 MB: above the size sent inside a task
    X, y, _ = make_data([600, 300, 10], "softmax_cross_entropy", False, n=40)
    net = make_net([600, 300, 10], "softmax_cross_entropy")
    theta, v = net.init(seed=0), np.random.default_rng(0).normal(size=net.n_params)
    ref = bpopt.Objective(net, X, y, "softmax_cross_entropy", l2=1e-4)
    with DaskObjective(net, X, y, "softmax_cross_entropy", l2=1e-4,
                       client=client) as obj:
        assert_close(obj.loss_and_grad(theta)[1], ref.grad(theta))
        assert_close(obj.hessp(theta, v), ref.hessp(theta, v))


def test_curvature_reuses_each_shards_forward_pass(client):
    X, y, _ = make_data([5, 7, 3], "softmax_cross_entropy", False)
    net = make_net([5, 7, 3], "softmax_cross_entropy")
    theta, v = net.init(seed=0), np.ones(net.n_params)
    with DaskObjective(net, X, y, "softmax_cross_entropy", client=client,
                       n_shards=4) as obj:
        obj.loss_and_grad(theta)
        for _ in range(5):
            obj.gnvp(theta.copy(), v)
        obj.hessp(theta, v)
        counts = obj.counts
        assert counts["forward"] == 4          # one per shard, at the first call
        assert counts["tangent"] == 6 * 4
        assert counts["loss_and_grad"] == 1 and counts["gnvp"] == 5
        # negative control: a new point needs a new forward pass on each shard
        obj.gnvp(theta + 1e-3, v)
        assert obj.counts["forward"] == 8
        obj.reset_counts()
        assert obj.counts["forward"] == 0


# data in .npy files

@pytest.mark.parametrize("weighted", [False, True])
def test_from_npy_matches_objective(client, tmp_path, weighted):
    X, y, w = make_data([5, 7, 3], "softmax_cross_entropy", weighted)
    net = make_net([5, 7, 3], "softmax_cross_entropy")
    paths = [tmp_path / name for name in ("X.npy", "y.npy", "w.npy")]
    for path, arr in zip(paths, (X, y, w)):
        if arr is not None:
            np.save(path, arr)
    theta, v = net.init(seed=0), np.ones(net.n_params)
    ref = bpopt.Objective(net, X, y, "softmax_cross_entropy", l2=1e-3,
                          sample_weight=w)
    with DaskObjective.from_npy(net, paths[0], paths[1], "softmax_cross_entropy",
                                l2=1e-3, sample_weight=paths[2] if weighted else None,
                                client=client, n_shards=3) as obj:
        assert obj.n_samples == len(X)
        f, g = obj.loss_and_grad(theta)
        assert_close(f, ref.loss(theta))
        assert_close(g, ref.grad(theta))
        assert_close(obj.gnvp(theta, v), ref.gnvp(theta, v))


def test_from_npy_checks_the_data(client, tmp_path):
    X, y, _ = make_data([5, 7, 3], "softmax_cross_entropy", False)
    net = make_net([5, 7, 3], "softmax_cross_entropy")
    X[150, 2] = np.nan
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "w.npy", np.zeros(len(X)))
    args = (tmp_path / "X.npy", tmp_path / "y.npy", "softmax_cross_entropy")
    with pytest.raises(ValueError, match=r"rows 102\.\.151 of .*X\.npy.*: X "
                                         "contains NaN"):
        DaskObjective.from_npy(net, *args, client=client, n_shards=4)
    np.save(tmp_path / "y.npy", y.astype(float))
    with pytest.raises(TypeError, match="must be integer labels"):
        DaskObjective.from_npy(net, *args, client=client)
    np.save(tmp_path / "y.npy", y[:-1])
    with pytest.raises(ValueError, match=r"one row per row of X \(203\)"):
        DaskObjective.from_npy(net, *args, client=client)
    np.save(tmp_path / "y.npy", y)
    with pytest.raises(ValueError, match="X has 5 columns; the network expects 6"):
        DaskObjective.from_npy(bpopt.MLP([6, 3]), *args, client=client)
    X[150, 2] = 0.0
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="sample_weight sums to zero"):
        DaskObjective.from_npy(net, *args, sample_weight=tmp_path / "w.npy",
                               client=client)


# solvers, clusters and faults

def lbfgs(obj, theta0, callback=None):
    return so.minimize(obj.loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                       callback=callback, options={"maxiter": 30})


@pytest.fixture(scope="module")
def problem():
    X, y, w = make_data([5, 7, 3], "softmax_cross_entropy", True, n=401)
    net = make_net([5, 7, 3], "softmax_cross_entropy")
    ref = bpopt.Objective(net, X, y, "softmax_cross_entropy", l2=1e-3,
                          sample_weight=w)
    theta0 = net.init(seed=3)
    return net, X, y, w, theta0, lbfgs(ref, theta0)


def assert_same_result(res, expected):
    assert res.nit == expected.nit
    np.testing.assert_allclose(res.fun, expected.fun, rtol=1e-12)
    np.testing.assert_allclose(res.x, expected.x, rtol=0, atol=1e-8)


def test_lbfgs_on_two_worker_processes(process_client, problem):
    net, X, y, w, theta0, expected = problem
    with DaskObjective(net, X, y, "softmax_cross_entropy", l2=1e-3,
                       sample_weight=w, client=process_client) as obj:
        assert obj.n_shards == 2
        assert_same_result(lbfgs(obj, theta0), expected)
    assert process_client.status == "running"   # a given client stays open


def test_worker_killed_during_lbfgs(process_client, problem):
    net, X, y, w, theta0, expected = problem

    iterations = []

    def kill_one_worker(xk):
        iterations.append(xk)
        if len(iterations) == 3:
            victim = sorted(process_client.nthreads())[0]
            # the worker exits before it can answer, so the call itself fails
            with pytest.raises(distributed.comm.CommClosedError):
                process_client.run(os._exit, 1, workers=[victim])

    with DaskObjective(net, X, y, "softmax_cross_entropy", l2=1e-3,
                       sample_weight=w, client=process_client) as obj:
        res = lbfgs(obj, theta0, callback=kill_one_worker)
        assert obj.counts["lost_shards"] >= 1
        assert_same_result(res, expected)

        # spread the shards again once the nanny's replacement has joined
        process_client.wait_for_workers(2, timeout=60)
        obj.rebalance()
        assert len({s.worker for s in obj._data.shards}) == 2
        assert obj.loss(res.x) == res.fun


def test_worker_dies_during_a_call(process_client, tmp_path):
    marker = str(tmp_path / "exited")

    class ExitOnce(SquaredError):
        # the first shard to compute a gradient takes its worker down with it
        def weighted_grad(self, z, y, w, out):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return super().weighted_grad(z, y, w, out)
            os._exit(1)

    X, y, _ = make_data([5, 6, 2], "squared_error", False)
    net = make_net([5, 6, 2], "squared_error")
    theta = net.init(seed=0)
    ref = bpopt.Objective(net, X, y, "squared_error")
    with DaskObjective(net, X, y, ExitOnce(), client=process_client) as obj:
        f, g = obj.loss_and_grad(theta)
        assert os.path.exists(marker) and obj.counts["lost_shards"] == 1
    assert_close(f, ref.loss(theta))
    assert_close(g, ref.grad(theta))


def test_errors_on_workers_are_raised(client):
    class Broken(SquaredError):
        def weighted_grad(self, z, y, w, out):
            raise FloatingPointError("boom")

    X, y, _ = make_data([5, 6, 2], "squared_error", False)
    net = make_net([5, 6, 2], "squared_error")
    with DaskObjective(net, X, y, Broken(), client=client, n_shards=2) as obj:
        with pytest.raises(ShardError, match=r"shard 0 \(rows 0\.\.101\).*"
                                             "FloatingPointError: boom"):
            obj.loss_and_grad(net.init(seed=0))


def test_timeout_raises(client):
    class Slow(SquaredError):
        def weighted_grad(self, z, y, w, out):
            time.sleep(0.5)
            return super().weighted_grad(z, y, w, out)

    X, y, _ = make_data([5, 6, 2], "squared_error", False, n=20)
    net = make_net([5, 6, 2], "squared_error")
    with DaskObjective(net, X, y, Slow(), client=client, n_shards=1,
                       timeout=0.1) as obj:
        with pytest.raises(TimeoutError, match=r"shards \[0\] did not answer "
                                               "within timeout=0.1 s"):
            obj.grad(net.init(seed=0))


def test_wrong_row_count_is_an_error(client):
    # negative control: a shard that answers for other rows than planned
    X, y, _ = make_data([5, 6, 2], "squared_error", False)
    net = make_net([5, 6, 2], "squared_error")
    with DaskObjective(net, X, y, "squared_error", client=client,
                       n_shards=2) as obj:
        obj._data.shards[1].stop -= 1
        with pytest.raises(ShardError, match="answered for shards and rows"):
            obj.loss(net.init(seed=0))


def test_embedded_cluster_and_scheduler_address(process_cluster, problem,
                                                monkeypatch):
    # one worker per core, but no more than two on a large test machine
    monkeypatch.setattr("bpopt._dask_setup.CPU_COUNT", 2)
    net, X, y, w, theta0, _ = problem
    theta = theta0 + 0.1
    expected = bpopt.Objective(net, X, y, "softmax_cross_entropy").loss(theta)
    with DaskObjective(net, X, y, "softmax_cross_entropy") as obj:
        assert obj.n_shards == sum(obj.client.nthreads().values())
        assert_close(obj.loss(theta), expected)
    assert obj.client.status == "closed"
    with pytest.raises(RuntimeError, match="closed"):
        obj.loss(theta)
    obj = DaskObjective(net, X, y, "softmax_cross_entropy",
                        client=process_cluster.scheduler_address)
    assert_close(obj.loss(theta), expected)
    obj.close()
    obj.close()                                   # closing twice is harmless
    assert obj.client.status == "closed"
    assert process_cluster.status.name == "running"


# arguments and packaging

def test_invalid_arguments(client):
    X, y, _ = make_data([5, 6, 2], "squared_error", False, n=10)
    net = make_net([5, 6, 2], "squared_error")
    with pytest.raises(ValueError, match=r"n_shards must be in 1\.\.10"):
        DaskObjective(net, X, y, "squared_error", client=client, n_shards=11)
    with pytest.raises(TypeError, match="n_shards must be an integer"):
        DaskObjective(net, X, y, "squared_error", client=client, n_shards=2.0)
    with pytest.raises(TypeError, match="client must be None, a scheduler"):
        DaskObjective(net, X, y, "squared_error", client=3)
    with pytest.raises(ValueError, match="timeout must be positive"):
        DaskObjective(net, X, y, "squared_error", client=client, timeout=0)
    with pytest.raises(ValueError, match="y must have one row per row of X"):
        DaskObjective(net, X, y[:5], "squared_error", client=client)
    with DaskObjective(net, X, y, "squared_error", client=client) as obj:
        with pytest.raises(ValueError, match="theta has 3 entries"):
            obj.loss(np.zeros(3))
        theta, u = np.zeros(net.n_params), np.zeros((10, 2))
        local_only = {"jvp": (theta, theta), "vjp": (theta, u),
                      "residuals": (theta,), "jacobian": (theta,),
                      "subset": ([0, 1],), "curvature_batch": (2,)}
        for name, args in local_only.items():
            with pytest.raises(TypeError, match=f"{name} is not available"):
                getattr(obj, name)(*args)
        with pytest.raises(TypeError, match="does not pickle"):
            pickle.dumps(obj)
        assert "n_shards=4" in repr(obj)   # one per worker thread


def test_import_needs_the_dask_extra(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("bpopt.distributed")
                 or m.startswith("bpopt._dask")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'bpopt\[dask\]'"):
        import bpopt.distributed  # noqa: F401


def test_import_bpopt_does_not_import_dask():
    code = "import sys, bpopt; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
