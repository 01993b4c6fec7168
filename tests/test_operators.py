"""The forward operators: adjoint tests, the corruptions they reproduce, and each data step against a dense solve."""
import numpy as np
import pytest
from scipy import ndimage

from imrestore.chain import Chain
from imrestore.operators import Compose, Convolve, Fourier, Identity, Mask, Pool, check_adjoint
from plugins.imrestore_builtins.corruptions import gaussian_psf

RNG = np.random.default_rng(0)
OPERATORS = {
    "identity": (Identity(), (6, 5)),
    "mask": (Mask(RNG.random((6, 5)) < 0.5), (6, 5)),
    "mask-rgb": (Mask(RNG.random((4, 5)) < 0.5), (4, 5, 3)),
    "convolve": (Convolve(gaussian_psf(1.5)), (13, 11)),
    "convolve-psf-larger-than-image": (Convolve(gaussian_psf(3.0)), (9, 7)),
    "pool": (Pool(3), (13, 11)),
    "fourier": (Fourier(RNG.random(8)), (6, 8)),
    "blur-then-pool": (Compose([Convolve(gaussian_psf(1.0)), Pool(2)]), (12, 10)),
    "mask-then-blur": (Compose([Mask(RNG.random((9, 9)) < 0.5), Convolve(gaussian_psf(1.0))]), (9, 9)),
}


def dense(op, shape):
    n = int(np.prod(shape))
    return np.stack([op.forward(e.reshape(shape)).ravel() for e in np.eye(n)], axis=1)


@pytest.mark.parametrize("name", list(OPERATORS))
def test_adjoint(name):
    op, shape = OPERATORS[name]
    assert check_adjoint(op, shape) < 1e-12


@pytest.mark.parametrize("name", list(OPERATORS))
def test_data_step_matches_a_dense_solve(name):
    op, shape = OPERATORS[name]
    a = dense(op, shape)
    rhs = RNG.standard_normal(shape)
    for rho in (0.05, 1.0):
        want = np.linalg.solve(a.T @ a + rho * np.eye(a.shape[1]), rhs.ravel()).reshape(shape)
        np.testing.assert_allclose(op.solve_normal(rhs, rho), want, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("name", ["identity", "mask", "mask-rgb", "pool"])
def test_projection_meets_the_measurement_and_is_the_nearest_such_image(name):
    op, shape = OPERATORS[name]
    x, y = RNG.standard_normal(shape), op.forward(RNG.standard_normal(shape))
    p = op.project(x, y)
    np.testing.assert_allclose(op.forward(p), y, atol=1e-12)
    np.testing.assert_allclose(op.project(p, y), p, atol=1e-12)  # a projection: applying it again changes nothing
    a = dense(op, shape)  # nearest: what it changed lies in the range of A^T (orthogonal to A's null space)
    step = (p - x).ravel()
    np.testing.assert_allclose(a.T @ np.linalg.lstsq(a.T, step, rcond=None)[0], step, atol=1e-9)


def test_compositions_and_convolutions_have_no_cheap_projection():
    assert OPERATORS["blur-then-pool"][0].project(np.zeros((12, 10)), np.zeros((6, 5))) is None
    assert OPERATORS["convolve"][0].project(np.zeros((13, 11)), np.zeros((13, 11))) is None
    assert Compose([Identity(), Pool(2)]).project(np.zeros((4, 4)), np.ones((2, 2))).mean() == 1.0


def test_check_adjoint_catches_a_wrong_adjoint():
    class Wrong(Convolve):
        def adjoint(self, y, in_shape=None):
            return self.forward(y)  # the PSF is not symmetric: correlation is not convolution

    psf = np.zeros((3, 3))
    psf[0, 0], psf[1, 1] = 0.7, 0.3
    assert check_adjoint(Wrong(psf), (8, 8)) > 1e-3


@pytest.mark.parametrize("spec,shape", [("blur:sigma=1.5", (20, 17)), ("blur:sigma=1", (12, 12, 3)),
                                         ("downsample:factor=3", (20, 17)), ("erase:p=0.5", (10, 10)),
                                         ("block:size=4", (10, 10, 3)), ("impulse:p=0.3", (10, 10)),
                                         ("saltpepper:p=0.3", (10, 10)), ("kspace:acceleration=4", (16, 16)),
                                         ("kspace:acceleration=4,scale=true", (16, 16))])
def test_each_linear_corruption_records_the_operator_it_applied(spec, shape):
    x = RNG.random(shape).astype(np.float32)
    out, record = Chain.from_specs([spec]).corrupt(x, seed=3)
    (op,) = record["operators"]
    predicted = op.forward(x)
    known = ~record["mask"] if "mask" in record else np.ones(out.shape[:2], bool)
    known = known[..., None] if out.ndim == 3 else known
    np.testing.assert_allclose(np.where(known, predicted, 0), np.where(known, out, 0), atol=2e-6)
    assert check_adjoint(op, shape) < 1e-12


def test_chain_composes_operators_in_order_and_noise_adds_none():
    x = RNG.random((24, 24)).astype(np.float32)
    out, record = Chain.from_specs(["blur:sigma=1", "downsample:factor=2", "gaussian:sigma=0"]).corrupt(x)
    assert [op.kind for op in record["operators"]] == ["convolve", "pool"]
    np.testing.assert_allclose(Compose(record["operators"]).forward(x), out, atol=2e-6)
    assert record["unmodelled"] == []


def test_blur_operator_is_the_blur():
    x = RNG.random((15, 12))
    np.testing.assert_allclose(Convolve(gaussian_psf(2.0)).forward(x),
                               ndimage.gaussian_filter(x, 2.0, mode="reflect", truncate=4.0), atol=1e-12)


def test_a_3d_psf_convolves_a_stack_as_scipy_does_and_passes_the_adjoint_test():
    psf = RNG.random((3, 5, 3))
    psf /= psf.sum()
    op = Convolve(psf)
    x = RNG.random((6, 9, 7))
    np.testing.assert_allclose(op.forward(x), ndimage.convolve(x, psf, mode="reflect"), atol=1e-12)
    assert check_adjoint(op, (6, 9, 7)) < 1e-12
    a = dense(op, (4, 5, 4))
    rhs = RNG.standard_normal((4, 5, 4))
    want = np.linalg.solve(a.T @ a + 0.1 * np.eye(a.shape[1]), rhs.ravel()).reshape(rhs.shape)
    np.testing.assert_allclose(op.solve_normal(rhs, 0.1), want, atol=1e-4 * np.abs(want).max())
