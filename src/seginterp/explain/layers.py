"""Explainable layers named independently of the encoder.

An smp ``Unet`` of depth ``d`` (``d = len(decoder_channels)``, 5 in params.yaml) has ``d``
encoder stages at strides 2, 4, …, 2^d and ``d`` decoder blocks:

- ``encoder1`` … ``encoder{d-1}``: encoder stage k (stride 2^k), the skip features of the decoder;
- ``bottleneck``: the deepest encoder stage (stride 2^d). smp's ``decoder.center`` is Identity for
  every encoder except VGG, where it is a conv block (decoder side, not named here);
- ``decoder1`` … ``decoder{d}``: ``decoder.blocks[k-1]``; ``decoder1`` works at stride 2^(d-1),
  ``decoder{d}`` at full resolution (it feeds the segmentation head).

A layer's map is taken at the *output* of the module below. smp's encoders differ in structure:

=====================  ==============================  ===========================  ========
encoder family         encoder1 … encoder4             bottleneck (depth 5)         DeepLIFT
=====================  ==============================  ===========================  ========
resnet*, resnext*      ``encoder.relu`` (stem),        ``encoder.layer4``           exact
(ResNetEncoder)        ``encoder.layer1..layer3``
vgg*, vgg*_bn          ``encoder.features.{i}``, i =   ``encoder.features.{last}``  exact
(VGGEncoder)           the ReLU before each MaxPool    (the final MaxPool)
densenet*              ``encoder.features.relu0``,     ``encoder.features.norm5``   exact
(DenseNetEncoder)      ``…transition{1,2,3}.relu``
mobilenet_v2           ``encoder.features.{1,3,6,13}``  ``encoder.features.18``      refused
(MobileNetV2Encoder)                                                                (ReLU6)
=====================  ==============================  ===========================  ========

"exact": model-level DeepLIFT sums to ``f(x) − f(x₀)`` within 1e-3 relative on the Captum-safe
model (:mod:`seginterp.explain.captum_safe`) with zeros, blurred and mean baselines (tested:
resnet18/34, and resnet50, vgg11_bn, densenet121 in the slow tests). A *layer* DeepLIFT map sums
to it only at layers every path crosses: ``encoder1``, ``decoder4``, ``decoder5`` for these
families; skip connections bypass the others (:mod:`seginterp.explain.completeness`).

Decoder blocks are ``decoder.blocks.{0..4}`` for every family. :func:`layer_table` gives the
exact paths for a built model; other encoder families are refused with
:class:`~seginterp.explain.deeplift_check.UnsupportedEncoderError`.
"""

from __future__ import annotations

from torch import nn

from seginterp.core.registry import Registry
from seginterp.explain.deeplift_check import UnsupportedEncoderError

LAYERS: Registry[str] = Registry("layer")
"""Layer names -> one-line description (resolved to modules by :func:`layer_table`)."""
for _k in range(1, 5):
    LAYERS.add(f"encoder{_k}", f"encoder stage {_k} (stride {2**_k}), a skip input of the decoder")
LAYERS.add("bottleneck", "deepest encoder stage (input of decoder.center)")
for _k in range(1, 6):
    LAYERS.add(f"decoder{_k}", f"decoder.blocks[{_k - 1}] (decoder{_k} of 5 is at full resolution)")


def _stage_paths(encoder: nn.Module) -> list[str]:
    """Module paths of encoder stages 1..depth (output = the feature at stride 2^k)."""
    cls = type(encoder).__name__
    depth = int(encoder._depth)
    if cls == "ResNetEncoder":
        paths = ["encoder.relu", "encoder.layer1", "encoder.layer2", "encoder.layer3"]
        paths.append("encoder.layer4")
    elif cls == "DenseNetEncoder":
        paths = ["encoder.features.relu0"]
        paths += [f"encoder.features.transition{k}.relu" for k in (1, 2, 3)]
        paths.append("encoder.features.norm5")
    elif cls == "VGGEncoder":  # features[0] is the stride-1 map, which the decoder drops
        paths = [f"encoder.features.{i}" for i in encoder._out_indexes[1:]]
    elif cls == "MobileNetV2Encoder":
        paths = [f"encoder.features.{i}" for i in encoder._out_indexes]
    else:
        raise UnsupportedEncoderError(
            f"no layer table for encoder class {cls}; supported families: "
            f"{', '.join(SUPPORTED_FAMILIES)} (encoders: {', '.join(supported_encoders())})"
        )
    return paths[:depth]


SUPPORTED_FAMILIES: tuple[str, ...] = (
    "ResNetEncoder",
    "VGGEncoder",
    "DenseNetEncoder",
    "MobileNetV2Encoder",
)


def supported_encoders() -> list[str]:
    """smp encoder names whose family has a layer table (DeepLIFT may still refuse some)."""
    from segmentation_models_pytorch.encoders import encoders

    return [k for k, v in encoders.items() if v["encoder"].__name__ in SUPPORTED_FAMILIES]


def layer_table(model: nn.Module) -> dict[str, str]:
    """Layer name -> module path in ``model`` (an smp Unet), for the names this model has."""
    if not hasattr(model, "encoder") or not hasattr(model, "decoder"):
        raise UnsupportedEncoderError(f"{type(model).__name__} is not an smp Unet")
    stages = _stage_paths(model.encoder)
    depth = len(stages)
    table = {f"encoder{k}": stages[k - 1] for k in range(1, depth)}
    table["bottleneck"] = stages[-1]
    for k in range(1, len(model.decoder.blocks) + 1):
        table[f"decoder{k}"] = f"decoder.blocks.{k - 1}"
    return table


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The module for layer ``name``; unknown or absent names list the valid ones."""
    LAYERS.get(name)  # unknown name -> UnknownNameError listing all names
    table = layer_table(model)
    if name not in table:
        raise UnsupportedEncoderError(
            f"layer {name!r} does not exist in this model (depth {len(model.decoder.blocks)}); "
            f"valid layers: {', '.join(table)}"
        )
    return model.get_submodule(table[name])
