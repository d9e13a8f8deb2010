"""The smp architecture x encoder combinations on which DeepLIFT is refused, and why (test data;
imported as ``from explain.refused import REFUSED``; ``tests/explain/test_deeplift_check.py``
checks each)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """An smp architecture x encoder combination on which DeepLIFT is refused, and why."""

    architecture: str  #: ``smp.create_model`` name
    encoders: tuple[str, ...]  #: smp encoder names tested (all three families when refused for all)
    module: str  #: the offending module path(s), as the error names them
    reason: str
    settings: str = ""  #: smp arguments that make it so (empty: smp's defaults)


_FAMILIES = ("resnet18", "vgg11_bn", "densenet121")
REFUSED: tuple[Refusal, ...] = (
    Refusal(
        "fpn",
        _FAMILIES,
        "decoder.seg_blocks.*.block.*.block.1",
        "GroupNorm is not affine in its input (it divides by the input's own standard deviation "
        "per group); smp 0.6's FPN always uses GroupNorm(32) in its segmentation blocks",
    ),
    Refusal(
        "manet",
        _FAMILIES,
        "decoder.center (PABBlock), decoder.center.map_softmax, decoder.blocks.0-3 (MFABBlock)",
        "the position-attention block multiplies two functions of the input (matmul of query "
        "and key, then of the Softmax map and the values) and each MFAB block gates "
        "x * (sigmoid + sigmoid) of the input; DeepLift propagates a product by its gradient at "
        "x (u(x)Δv + v(x)Δu, not Δ(uv)) and Softmax by a heuristic, and Captum has no rule "
        "that makes either exact; the PAB block lies on every path, so no DeepLIFT map of MAnet "
        "is exact",
    ),
    Refusal(
        "upernet",
        _FAMILIES,
        "decoder.feature_norms.* (LayerNorm2d)",
        "LayerNorm2d is not affine in its input (it normalises by the input's own statistics); "
        "it lies on every path of smp 0.6's UPerNet",
    ),
    Refusal(
        "deeplabv3plus",
        ("vgg11_bn", "densenet121"),
        "encoder",
        "not buildable: smp's DeepLabV3+ dilates the encoder (output stride 8 or 16), which "
        "VGG and DenseNet encoders do not support",
    ),
    Refusal(
        "deeplabv3",
        ("vgg11_bn", "densenet121"),
        "encoder",
        "not buildable: smp's DeepLabV3 dilates the encoder (output stride 8), which VGG and "
        "DenseNet encoders do not support",
    ),
    Refusal(
        "unet",
        _FAMILIES,
        "decoder.blocks.*.attention{1,2}.attention (SCSEModule)",
        "scSE attention multiplies the features by sigmoid gates computed from them",
        settings="decoder_attention_type='scse'",
    ),
    Refusal(
        "*",
        ("mobilenet_v2", "efficientnet-b0"),
        "encoder activations",
        "ReLU6 / SiLU are not in Captum DeepLift's nonlinearities",
    ),
)
