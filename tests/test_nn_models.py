"""The networks: shapes, layer structure as in the papers, determinism."""
import pytest
import torch

from imrestore.nn.models import EDSR, N2NUNet, build_network


@pytest.mark.parametrize(
    "name,config,shape,out",
    [
        ("conv-ae", {}, (3, 1, 28, 28), (3, 1, 28, 28)),
        ("sr-mnist", {}, (3, 1, 14, 14), (3, 1, 28, 28)),
        ("n2n-unet", {}, (2, 1, 64, 96), (2, 1, 64, 96)),
        ("n2n-unet", {"in_channels": 3, "out_channels": 3}, (1, 3, 45, 71), (1, 3, 45, 71)),
        ("edsr", {"scale": 2, "blocks": 2, "features": 8}, (1, 3, 10, 12), (1, 3, 20, 24)),
        ("edsr", {"scale": 3, "blocks": 2, "features": 8, "channels": 1}, (1, 1, 10, 12), (1, 1, 30, 36)),
        ("edsr", {"scale": 4, "blocks": 2, "features": 8}, (1, 3, 5, 6), (1, 3, 20, 24)),
        ("mlp2d", {}, (7, 2), (7, 2)),
    ],
)
def test_output_shapes(name, config, shape, out):
    net = build_network(name, config).eval()
    with torch.no_grad():
        assert tuple(net(torch.rand(shape)).shape) == out


def test_conv_ae_narrows_to_eight_numbers():
    net = build_network("conv-ae")
    assert tuple(net.encoder(torch.zeros(1, 1, 28, 28)).shape) == (1, 8, 1, 1)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.encoder) == 5
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in net.decoder) == 5


def test_sr_mnist_encoder_is_32x1x1_with_kernels_5_5_4_3():
    net = build_network("sr-mnist")
    assert tuple(net.encoder(torch.zeros(1, 1, 14, 14)).shape) == (1, 32, 1, 1)
    assert [m.kernel_size[0] for m in net.encoder if isinstance(m, torch.nn.Conv2d)] == [5, 5, 4, 3]


def test_n2n_unet_matches_table_2():
    net = N2NUNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [48] * 7 + [96] * 8 + [64, 32, 1]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [c.in_channels for c in convs[7:]] == [96, 96, 144, 96, 144, 96, 144, 96, 97, 64, 32]
    slopes = {m.negative_slope for m in net.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.1}
    assert not isinstance(list(net.dec1.children())[-1], torch.nn.Sequential)  # linear output layer


def test_edsr_baseline_defaults():
    net = EDSR()
    blocks = [m for m in net.body if m.__class__.__name__ == "_ResBlock"]
    assert len(blocks) == 16 and net.head.out_channels == 64
    assert any(isinstance(m, torch.nn.PixelShuffle) for m in net.tail)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_edsr_upsample_skip_starts_from_bicubic():
    net = build_network("edsr", {"blocks": 1, "features": 8, "upsample_skip": True})
    for p in net.tail[-1].parameters():
        torch.nn.init.zeros_(p)  # the residual branch silenced
    x = torch.rand(1, 3, 8, 8)
    expected = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    assert torch.allclose(net(x), expected, atol=1e-6)


def test_unknown_network_and_config_keys():
    with pytest.raises(ValueError, match="unknown network"):
        build_network("resnet")
    with pytest.raises(ValueError, match="unknown config keys \\['depth'\\]"):
        build_network("edsr", {"depth": 3})
    with pytest.raises(ValueError, match="scale must be 2, 3 or 4"):
        build_network("edsr", {"scale": 5})


def test_seeded_init_is_deterministic():
    torch.manual_seed(0)
    a = build_network("n2n-unet", {"features": 8}).state_dict()
    torch.manual_seed(0)
    b = build_network("n2n-unet", {"features": 8}).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
