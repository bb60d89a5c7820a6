import keras

import kerasseg
from kerasseg.utils import count_macs, count_params


def test_count_macs_by_hand():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)          # 8x8 out: 64*9*3*8
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)                    # 64*9*8
    x = keras.layers.SeparableConv2D(4, 3, padding="same")(x)                 # 64*9*8 + 64*8*4
    x = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same")(x)      # 8x8 in: 64*16*4*2
    x = keras.layers.Dense(5)(x)                                              # 16*16*2*5
    model = keras.Model(inputs, x)
    expected = 64 * 9 * 3 * 8 + 64 * 9 * 8 + (64 * 9 * 8 + 64 * 8 * 4) + 64 * 16 * 4 * 2 + 256 * 2 * 5
    assert count_macs(model, (16, 16)) == expected
    assert count_macs(model, (32, 32)) == 4 * expected


def test_known_networks():
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    assert abs(count_macs(vgg, (224, 224)) / 1e9 - 15.35) < 0.01  # VGG16 conv layers: 15.35 GMACs
    enet = kerasseg.build_model("enet", 12)
    assert count_params(enet)["trainable"] == 356_887
    counts = count_params(enet)
    assert counts["total"] == counts["trainable"] + counts["non_trainable"] == enet.count_params()
