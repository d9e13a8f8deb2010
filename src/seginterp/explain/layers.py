"""Explainable layers named independently of the encoder and, where they exist, the architecture.

Every architecture (:data:`~seginterp.model.architectures.ARCHITECTURES`) has the encoder stages
of an smp encoder of depth ``d`` (``d = len(decoder_channels)``, 5 in params.yaml; 3 for
``pspnet``):

- ``encoder1`` … ``encoder{d-1}``: encoder stage k (stride 2^k), the skip features of the decoder;
- ``bottleneck``: the deepest encoder stage (stride 2^d). ``deeplabv3plus`` dilates the last
  stage (``bottleneck`` at stride 16, like ``encoder4``), ``deeplabv3`` the last two (``encoder4``
  and ``bottleneck`` at stride 8); ``pspnet`` (depth 3) has ``encoder1``, ``encoder2`` and
  ``bottleneck`` at stride 8. smp's ``decoder.center`` (Unet: Identity, or a conv block for VGG)
  is not named.

and its own decoder stages (depth 5 shown; :func:`layer_table` gives the paths of a built model):

- ``unet``, ``linknet``: ``decoder1`` … ``decoder5`` = ``decoder.blocks.{k-1}`` (``decoder1`` at
  stride 16, ``decoder5`` at full resolution);
- ``manet``: ``pab`` = ``decoder.center`` (position attention block on the bottleneck), then
  ``decoder1`` … ``decoder5`` = ``decoder.blocks.{k-1}``;
- ``unetplusplus``: ``decoder1`` … ``decoder5`` = ``decoder.blocks.x_0_{k-1}``, the main path
  (as Unet's blocks); ``nested{i}_{j}`` = ``decoder.blocks.x_{i}_{j}`` (1 ≤ i ≤ j ≤ 3), the
  nested nodes, at the resolution of ``decoder{j+1}``;
- ``fpn``: ``fpn_p5`` … ``fpn_p2`` = ``decoder.p5`` … ``decoder.p2``, the pyramid levels (p5 from
  the deepest stage; stride 2^k at depth 5); ``fpn_seg5`` … ``fpn_seg2`` =
  ``decoder.seg_blocks.{5-k}``, their segmentation blocks (stride 4); ``decoder_out``, their sum;
- ``deeplabv3plus``: ``aspp`` = ``decoder.aspp`` (stride 16), ``skip_proj`` = ``decoder.block1``
  (1×1 projection of the stride-4 feature), ``decoder_out`` (stride 4);
- ``deeplabv3``: ``aspp`` = ``decoder.aspp``, ``decoder_out`` (stride 8);
- ``pspnet``: ``ppm`` = ``decoder.psp`` (pyramid pooling module), ``decoder_out`` (stride 8);
- ``upernet``: ``ppm`` = ``decoder.psp`` (on the bottleneck, level p5), ``fpn_p4`` … ``fpn_p2`` =
  ``decoder.fpn_lateral_blocks.{4-k}`` (top-down sums, stride 16 … 4), ``decoder_out``;
- ``segformer``: ``mlp1`` … ``mlp5`` = ``decoder.mlp_stage.{d-k}`` (the MLP projection of encoder
  stage k; ``mlp5`` of the bottleneck), ``decoder_out`` (stride 4).

``decoder_out`` = ``decoder``, the decoder's output: the segmentation head's input (the head
then upsamples by 4 or 8); in Unet, Unet++, MAnet and Linknet that is ``decoder{d}``.
``attribute.layers: all`` means every name :func:`layer_table` gives for the model, in that
(network) order.

A layer's map is taken at the *output* of its module. smp's encoders differ in structure:

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

"exact": model-level DeepLIFT of the *Unet* sums to ``f(x) − f(x₀)`` within 1e-3 relative on
the Captum-safe model (:mod:`seginterp.explain.captum_safe`) with zeros, blurred and mean
baselines (tested: resnet18/34, and resnet50, vgg11_bn, densenet121 in the slow tests). A *layer*
DeepLIFT map sums to it only at layers every path crosses: ``encoder1``, ``decoder4``,
``decoder5`` for these families; skip connections bypass the others
(:mod:`seginterp.explain.completeness`). The other architectures' DeepLIFT is not checked here.
``deeplabv3plus`` and ``deeplabv3`` need a dilatable encoder (resnet*, mobilenet_v2).

:func:`layer_table` gives the exact paths for a built model; other encoder families are refused
with :class:`~seginterp.explain.deeplift_check.UnsupportedEncoderError`, as are models of an
architecture that is not registered.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from seginterp.core.registry import Registry, UnknownNameError
from seginterp.explain.deeplift_check import UnsupportedEncoderError

LAYERS: Registry[str] = Registry("layer")
"""Layer names -> one-line description (resolved to modules by :func:`layer_table`); the paper's
Unet names first, in network order (their positions are the ``layer_index`` of the plots)."""
for _k in range(1, 5):
    LAYERS.add(f"encoder{_k}", f"encoder stage {_k} (stride {2**_k}), a skip input of the decoder")
LAYERS.add("bottleneck", "deepest encoder stage (input of decoder.center)")
for _k in range(1, 6):
    LAYERS.add(f"decoder{_k}", f"decoder.blocks[{_k - 1}] (decoder{_k} of 5 is at full resolution)")
UNET_LAYERS: tuple[str, ...] = tuple(LAYERS.names())
"""The layers of the paper's U-Net (``unet``, depth 5) in network order."""
LAYERS.add("pab", "manet: position attention block on the bottleneck (decoder.center)")
for _j in range(1, 4):
    for _i in range(1, _j + 1):
        LAYERS.add(f"nested{_i}_{_j}", f"unetplusplus: nested node x_{_i}_{_j} of the decoder")
for _k in (5, 4, 3, 2):
    LAYERS.add(f"fpn_p{_k}", f"fpn, upernet: pyramid level p{_k} (top-down)")
for _k in (5, 4, 3, 2):
    LAYERS.add(f"fpn_seg{_k}", f"fpn: segmentation block of pyramid level p{_k}")
LAYERS.add("aspp", "deeplabv3, deeplabv3plus: atrous spatial pyramid pooling (decoder.aspp)")
LAYERS.add("skip_proj", "deeplabv3plus: projection of the stride-4 skip feature")
LAYERS.add("ppm", "pspnet, upernet: pyramid pooling module (decoder.psp)")
for _k in range(1, 6):
    LAYERS.add(f"mlp{_k}", f"segformer: MLP projection of encoder stage {_k}")
LAYERS.add("decoder_out", "the decoder's output, the segmentation head's input (not in unet-likes)")


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


def _blocks(decoder: nn.Module) -> dict[str, str]:
    return {f"decoder{k}": f"decoder.blocks.{k - 1}" for k in range(1, len(decoder.blocks) + 1)}


def _manet(decoder: nn.Module) -> dict[str, str]:
    return {"pab": "decoder.center", **_blocks(decoder)}


def _unetplusplus(decoder: nn.Module) -> dict[str, str]:
    keys = list(decoder.blocks.keys())  # x_{i}_{j}; x_0_j is the main path
    main = sorted((k for k in keys if k.startswith("x_0_")), key=lambda k: int(k.split("_")[2]))
    table = {f"decoder{n}": f"decoder.blocks.{k}" for n, k in enumerate(main, start=1)}
    nested = [k for k in keys if not k.startswith("x_0_")]
    nested.sort(key=lambda k: (int(k.split("_")[2]), int(k.split("_")[1])))
    table |= {f"nested{k[2:]}": f"decoder.blocks.{k}" for k in nested}
    return table


def _fpn(decoder: nn.Module) -> dict[str, str]:
    table = {f"fpn_p{k}": f"decoder.p{k}" for k in (5, 4, 3, 2)}
    table |= {f"fpn_seg{k}": f"decoder.seg_blocks.{5 - k}" for k in (5, 4, 3, 2)}
    return table | {"decoder_out": "decoder"}


def _deeplabv3plus(decoder: nn.Module) -> dict[str, str]:
    return {"aspp": "decoder.aspp", "skip_proj": "decoder.block1", "decoder_out": "decoder"}


def _deeplabv3(decoder: nn.Module) -> dict[str, str]:
    return {"aspp": "decoder.aspp", "decoder_out": "decoder"}


def _pspnet(decoder: nn.Module) -> dict[str, str]:
    return {"ppm": "decoder.psp", "decoder_out": "decoder"}


def _upernet(decoder: nn.Module) -> dict[str, str]:
    n = len(decoder.fpn_lateral_blocks)
    table = {"ppm": "decoder.psp"}
    table |= {f"fpn_p{4 - i}": f"decoder.fpn_lateral_blocks.{i}" for i in range(n)}
    return table | {"decoder_out": "decoder"}


def _segformer(decoder: nn.Module, depth: int) -> dict[str, str]:
    n = len(decoder.mlp_stage)  # mlp_stage[i] projects encoder stage depth - i
    table = {f"mlp{depth - i}": f"decoder.mlp_stage.{i}" for i in reversed(range(n))}
    return table | {"decoder_out": "decoder"}


_DECODERS: dict[str, Any] = {
    "Unet": _blocks,
    "Linknet": _blocks,
    "MAnet": _manet,
    "UnetPlusPlus": _unetplusplus,
    "FPN": _fpn,
    "DeepLabV3Plus": _deeplabv3plus,
    "DeepLabV3": _deeplabv3,
    "PSPNet": _pspnet,
    "UPerNet": _upernet,
}
"""smp class name -> its decoder's layer table (Segformer also needs the encoder depth)."""


def layer_table(model: nn.Module) -> dict[str, str]:
    """Layer name -> module path in ``model`` (an smp model of a registered architecture), for
    the names this model has, in network order (encoder stages, then decoder stages)."""
    cls = type(model).__name__
    if not hasattr(model, "encoder") or not hasattr(model, "decoder"):
        raise UnsupportedEncoderError(f"{cls} is not an smp segmentation model")
    if cls not in _DECODERS and cls != "Segformer":
        raise UnsupportedEncoderError(
            f"no layer table for the smp architecture {cls}; supported: "
            f"{', '.join([*_DECODERS, 'Segformer'])}"
        )
    stages = _stage_paths(model.encoder)
    depth = len(stages)
    table = {f"encoder{k}": stages[k - 1] for k in range(1, depth)}
    table["bottleneck"] = stages[-1]
    if cls == "Segformer":
        return table | _segformer(model.decoder, depth)
    return table | _DECODERS[cls](model.decoder)


def is_module_path(name: str) -> bool:
    """A layer given by its module path in the model (``decoder.blocks.2``: it has a dot), for
    models without a layer table; other names are layer names (:data:`LAYERS`)."""
    return "." in name


def resolve_layers(layers: tuple[str, ...] | str, model: nn.Module) -> tuple[str, ...]:
    """``attribute.layers`` for ``model``: ``all`` = every name of :func:`layer_table`; a list is
    checked name by name (unknown names and names this model lacks list the valid ones)."""
    if layers == "all":
        return tuple(layer_table(model))
    for name in layers:
        get_layer(model, name)
    return tuple(layers)


HEAD_INPUT = "last"
"""``guided_gradcam_layer: last``: the layer that feeds the segmentation head (see
:func:`head_input`)."""


def head_input(model: nn.Module) -> str:
    """The name of the layer whose output is the segmentation head's input: ``decoder_out``
    where the table has it, else the last main-path decoder block ``decoder{d}`` (unet, unet++,
    manet, linknet)."""
    table = layer_table(model)
    if "decoder_out" in table:
        return "decoder_out"
    blocks = [n for n in table if n.startswith("decoder") and n[len("decoder") :].isdigit()]
    return max(blocks, key=lambda n: int(n[len("decoder") :]))


def resolve_layer(name: str, model: nn.Module) -> str:
    """One layer name for ``model``: ``last`` -> :func:`head_input`; any other name is checked
    (unknown names and names this model lacks list the valid ones)."""
    if name == HEAD_INPUT:
        return head_input(model)
    get_layer(model, name)
    return name


def _check_present(name: str, table: dict[str, str]) -> None:
    """``name`` is a layer of the model whose table is ``table``; the error lists that model's
    layers (an unknown name and a name of another architecture alike)."""
    if name in table:
        return
    valid = ", ".join(table)
    if name not in LAYERS:
        raise UnknownNameError(f"Unknown layer {name!r}. Valid layers: {valid} (this model's)")
    raise UnsupportedEncoderError(
        f"layer {name!r} does not exist in this model; valid layers: {valid}"
    )


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The module for layer ``name`` (a layer name, or a module path); unknown or absent names
    list the valid ones."""
    if is_module_path(name):
        try:
            return model.get_submodule(name)
        except AttributeError:
            top = ", ".join(n for n, _ in model.named_children())
            raise UnsupportedEncoderError(
                f"module path {name!r} does not exist in this model; its top-level modules: {top}"
            ) from None
    table = layer_table(model)
    _check_present(name, table)
    return model.get_submodule(table[name])
