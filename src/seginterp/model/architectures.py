"""Segmentation architectures (segmentation-models-pytorch) by name: ``model.architecture``.

Every architecture is built with one channel of logits and no activation: (B, 3, H, W) ->
(B, 1, H, W) at the input size. ``model.decoder_channels`` (a list of ints, default
``[128, 64, 32, 16, 8]``, half of smp's Unet default as in the paper) is mapped onto each
architecture's own decoder params:

=================  ===================  ===========================================================
name               smp class            what ``decoder_channels`` sets
=================  ===================  ===========================================================
``unet``           ``Unet``             the decoder block widths; length = encoder depth (paper's)
``unetplusplus``   ``UnetPlusPlus``     the widths of the main decoder path; length = depth
``manet``          ``MAnet``            the decoder block widths; length = depth
``linknet``        ``Linknet``          length = depth only: Linknet's block widths follow the
                                        encoder's channels (smp has no width param)
``fpn``            ``FPN``              [0] = pyramid channels, [1] = segmentation-block channels
                                        (a multiple of 32: GroupNorm(32)); length = depth (3..5)
``deeplabv3plus``  ``DeepLabV3Plus``    [0] = ASPP / decoder channels; length = depth (3..5);
                                        output stride 16 (the last stage dilated)
``deeplabv3``      ``DeepLabV3``        [0] = ASPP / decoder channels; length = depth (3..5);
                                        output stride 8 (the last two stages dilated)
``pspnet``         ``PSPNet``           [0] = pyramid pooling output channels; the encoder depth
                                        is smp's PSPNet depth 3 (stride 8), whatever the length
``upernet``        ``UPerNet``          [0] = decoder channels (PPM, FPN, fusion); length = depth
``segformer``      ``Segformer``        [0] = the MLP decoder's channels; length = depth (3..5)
=================  ===================  ===========================================================

Only the first entries an architecture uses matter; the others are ignored. Dilated
architectures (``deeplabv3plus``, ``deeplabv3``) need an encoder that supports dilation: resnet*
and mobilenet_v2, not vgg* or densenet*. Every architecture but ``unet`` needs an input side
divisible by the encoder's output stride (32 at depth 5; ``unet`` pads internally). smp's PAN
(too deep a pooling for 96 px inputs; dilated only) and DPT (timm ViT encoders only) are not
offered. :func:`check_buildable` builds a model on the meta device, so these limits are checked
before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from seginterp.core.registry import Registry


@dataclass(frozen=True)
class Architecture:
    """How one smp architecture is built from ``decoder_channels``."""

    smp_class: str
    """Name of the class in ``segmentation_models_pytorch``."""
    decoder_kwargs: Callable[[tuple[int, ...]], dict[str, Any]]
    """decoder_channels -> the smp keyword arguments it sets (``encoder_depth`` included)."""
    description: str
    """What ``decoder_channels`` means for it (one line)."""
    min_channels: int = 1
    """How many entries of ``decoder_channels`` it reads at least."""


def _blocks(dc: tuple[int, ...]) -> dict[str, Any]:
    return {"encoder_depth": len(dc), "decoder_channels": list(dc)}


def _first(name: str) -> Callable[[tuple[int, ...]], dict[str, Any]]:
    def kwargs(dc: tuple[int, ...]) -> dict[str, Any]:
        return {"encoder_depth": len(dc), name: dc[0]}

    return kwargs


def _fpn(dc: tuple[int, ...]) -> dict[str, Any]:
    if dc[1] % 32:
        raise ValueError(
            f"fpn: decoder_channels[1] (segmentation-block channels, GroupNorm of 32 groups) "
            f"must be a multiple of 32, got {dc[1]}"
        )
    kw = {"encoder_depth": len(dc), "decoder_pyramid_channels": dc[0]}
    return kw | {"decoder_segmentation_channels": dc[1]}


ARCHITECTURES: Registry[Architecture] = Registry("architecture")
"""``model.architecture`` names -> :class:`Architecture`; ``unet`` is the paper's."""
ARCHITECTURES.add(
    "unet", Architecture("Unet", _blocks, "decoder block widths; length = encoder depth")
)
ARCHITECTURES.add(
    "unetplusplus",
    Architecture("UnetPlusPlus", _blocks, "widths of the main decoder path; length = depth"),
)
ARCHITECTURES.add(
    "manet", Architecture("MAnet", _blocks, "decoder block widths; length = encoder depth")
)
ARCHITECTURES.add(
    "linknet",
    Architecture(
        "Linknet",
        lambda dc: {"encoder_depth": len(dc)},
        "length = encoder depth; block widths follow the encoder",
    ),
)
ARCHITECTURES.add(
    "fpn",
    Architecture("FPN", _fpn, "[0] pyramid, [1] segmentation channels; length = depth", 2),
)
ARCHITECTURES.add(
    "deeplabv3plus",
    Architecture(
        "DeepLabV3Plus", _first("decoder_channels"), "[0] decoder channels; length = depth"
    ),
)
ARCHITECTURES.add(
    "deeplabv3",
    Architecture("DeepLabV3", _first("decoder_channels"), "[0] decoder channels; length = depth"),
)
ARCHITECTURES.add(
    "pspnet",
    Architecture(
        "PSPNet",
        lambda dc: {"psp_out_channels": dc[0]},
        "[0] pyramid pooling output channels; encoder depth 3 (smp's)",
    ),
)
ARCHITECTURES.add(
    "upernet",
    Architecture("UPerNet", _first("decoder_channels"), "[0] decoder channels; length = depth"),
)
ARCHITECTURES.add(
    "segformer",
    Architecture(
        "Segformer",
        _first("decoder_segmentation_channels"),
        "[0] MLP decoder channels; length = depth",
    ),
)


def smp_kwargs(architecture: str, decoder_channels: tuple[int, ...]) -> dict[str, Any]:
    """The smp keyword arguments ``decoder_channels`` sets for ``architecture`` (checked)."""
    arch = ARCHITECTURES.get(architecture)
    if len(decoder_channels) < arch.min_channels:
        raise ValueError(
            f"{architecture} reads {arch.min_channels} entries of decoder_channels "
            f"({arch.description}), got {list(decoder_channels)}"
        )
    return arch.decoder_kwargs(tuple(decoder_channels))


def build_architecture(
    architecture: str,
    decoder_channels: tuple[int, ...],
    *,
    encoder: str,
    encoder_weights: str | None,
    in_channels: int,
) -> nn.Module:
    """The smp model: input (B, in_channels, H, W) -> logits (B, 1, H, W)."""
    import segmentation_models_pytorch as smp

    cls = getattr(smp, ARCHITECTURES.get(architecture).smp_class)
    return cls(
        encoder_name=encoder,
        encoder_weights=encoder_weights,
        in_channels=in_channels,
        classes=1,
        activation=None,
        **smp_kwargs(architecture, decoder_channels),
    )


def check_buildable(build: Callable[[], nn.Module], image_size: int, in_channels: int) -> nn.Module:
    """Build on the meta device (no memory, no init) and run a (1, C, S, S) forward there.

    Returns the meta model (its module tree is the real one's); smp's errors (an encoder
    without dilation, a side not divisible by the output stride) become one ValueError.
    """
    import torch

    try:
        with torch.device("meta"):
            model = build().eval()
            out = model(torch.empty(1, in_channels, image_size, image_size))
    except (RuntimeError, ValueError, AssertionError, TypeError) as err:
        msg = " ".join(str(err).split())
        raise ValueError(f"cannot build it for {image_size} px inputs: {msg}") from None
    if tuple(out.shape) != (1, 1, image_size, image_size):
        raise ValueError(
            f"it gives logits of shape {tuple(out.shape)} for a {image_size} px input, "
            f"expected (1, 1, {image_size}, {image_size})"
        )
    return model
