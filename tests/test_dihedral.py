"""The eight flips and rotations: each undone exactly, and a loop's denoiser turned by the next one at each call."""
import numpy as np
import pytest

from imrestore import dihedral


@pytest.mark.parametrize("shape, axes", [((5, 7), (0, 1)), ((5, 7, 3), (0, 1)), ((2, 5, 7), (1, 2))])
def test_every_transform_is_undone_and_the_eight_differ(shape, axes):
    x = np.random.default_rng(0).random(shape)
    seen = set()
    for k, flip in dihedral.TRANSFORMS:
        turned = dihedral.transform(x, k, flip, axes)
        assert np.array_equal(dihedral.undo(turned, k, flip, axes), x)
        seen.add(np.ascontiguousarray(turned).tobytes() + bytes(str(turned.shape), "ascii"))
    assert len(seen) == 8


def test_the_cycled_denoiser_sees_a_new_orientation_at_each_call_and_answers_in_the_original_one():
    x = np.random.default_rng(1).random((4, 6))
    seen = []

    def denoise(image, sigma):  # not orientation-free: marks its own first row
        seen.append(image.shape)
        out = image.copy()
        out[0] += sigma
        return out

    turned = dihedral.cycle(denoise)
    outs = [turned(x, 1.0) for _ in range(9)]
    assert all(o.shape == x.shape for o in outs)
    assert seen[:2] == [(4, 6), (6, 4)]  # a quarter turn at the second call
    marked = {(o != x).tobytes() for o in outs[:8]}  # where the mark lands in the original frame
    assert len(marked) == 4  # the first row, last column, last row, first column
    assert np.array_equal(outs[8], outs[0])  # the ninth call starts the cycle again


def test_a_slab_is_turned_in_its_yx_planes_only():
    x = np.random.default_rng(2).random((3, 4, 6))
    seen = []
    turned = dihedral.cycle(lambda im, s: seen.append(im.shape) or im, axes=(1, 2))
    for _ in range(2):
        assert np.array_equal(turned(x, 0.1), x)
    assert seen == [(3, 4, 6), (3, 6, 4)]
