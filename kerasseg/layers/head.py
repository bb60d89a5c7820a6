"""The segmentation head most models end with: dropout -> classifier conv -> bilinear resize to the input.

As in FCN (Long et al., CVPR 2015) and its descendants (DeepLabv3+, RefineNet, SFNet): per-pixel class scores
from a conv on the decoder's last feature map, up-sampled to the image. The resize is `Resize` to the size of a
reference tensor, so the head works with unknown height and width inside `tf.function` and exports to
RESIZE_BILINEAR (TFLite) / Resize (ONNX).
"""
import keras

from kerasseg.layers.resize import Resize


def segmentation_head(x, num_classes, reference, name=None, kernel_size=1, dropout_rate=0.0,
                      spatial_dropout=False):
    """Dropout (when `dropout_rate` > 0) -> conv (with bias) to `num_classes` -> resize to `reference`'s size.

    Layer names: `classifier`, `upsample` and `dropout`, prefixed by `{name}_` when `name` is given (e.g. the
    auxiliary heads "aux16_classifier").

    Args:
        x: decoder output [B, h, w, C].
        num_classes: logit channels.
        reference: tensor whose height and width the logits get (the model input).
        name: optional prefix of the layer names.
        kernel_size: classifier kernel (1; RefineNet uses 3).
        dropout_rate: dropout before the classifier (0 for none).
        spatial_dropout: drop whole channels (`SpatialDropout2D`) instead of single activations.

    Returns:
        Logits [B, H, W, num_classes] at the size of `reference`.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}.")

    def layer_name(part):
        return f"{name}_{part}" if name else part

    if dropout_rate:
        dropout = keras.layers.SpatialDropout2D if spatial_dropout else keras.layers.Dropout
        x = dropout(dropout_rate, name=layer_name("dropout"))(x)
    x = keras.layers.Conv2D(int(num_classes), kernel_size, padding="same", name=layer_name("classifier"))(x)
    return Resize(name=layer_name("upsample"))([x, reference])
