"""Class names, colour palettes and label mappings of the supported datasets.

Each `*_CLASSES` tuple lists the training classes in label order (label value k is `CLASSES[k]`), each
`*_PALETTE` is a uint8 [num_classes, 3] array of display colours in the same order. The mapping from the values
stored in a dataset's mask files to these labels is documented per dataset below and applied by its reader;
values a mapping does not list are errors, never silently remapped.

- CamVid (SegNet/ENet 11-class version): mask value k in 0..10 -> class k; 11 (Unlabelled/void) -> ignored.
- Pascal VOC 2012: palette-indexed PNGs, palette index k in 0..20 -> class k (0 = background); 255 (the
  object-boundary band) -> ignored. SBD "SegmentationClassAug" single-channel PNGs use the same values.
- Cityscapes: `*_gtFine_labelIds.png` hold the 34 label IDs of `CITYSCAPES_LABEL_IDS`; 19 of them map to the
  train IDs 0..18 (`CITYSCAPES_ID_TO_TRAIN_ID`), every other ID -> ignored. `*_gtFine_labelTrainIds.png`
  (already converted) hold 0..18 and 255.
- ADE20K SceneParsing (ADEChallengeData2016): mask value 0 ("other objects") -> ignored, values 1..150 ->
  classes 0..149 (shifted down by one).
"""
import numpy as np

CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                  "Pedestrian", "Bicyclist")
CAMVID_VOID = 11
# The colours of SegNet's CamVid tutorial (Unlabelled, value 11, is black).
CAMVID_PALETTE = np.array(
    [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
     [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]],
    dtype=np.uint8,
)

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")
VOC_BOUNDARY = 255


def voc_colormap(size=256):
    """The Pascal VOC palette: colour of palette index i, built from the bits of i (bit 3j+c of i goes to bit
    7-j of channel c). All 256 colours are distinct, so a decoded colour gives back its index exactly.

    Returns:
        uint8 array [size, 3].
    """
    colours = np.zeros((size, 3), np.uint8)
    for index in range(size):
        value = index
        for j in range(8):
            for channel in range(3):
                colours[index, channel] |= ((value >> channel) & 1) << (7 - j)
            value >>= 3
    return colours


VOC_PALETTE = voc_colormap(256)[: len(VOC_CLASSES)].copy()

# Cityscapes label IDs (cityscapesScripts `labels.py`): name, id, trainId (255 = not a training class).
# License plate has id -1 and does not appear in labelIds PNGs.
CITYSCAPES_LABEL_IDS = (
    ("unlabeled", 0, 255), ("ego vehicle", 1, 255), ("rectification border", 2, 255), ("out of roi", 3, 255),
    ("static", 4, 255), ("dynamic", 5, 255), ("ground", 6, 255), ("road", 7, 0), ("sidewalk", 8, 1),
    ("parking", 9, 255), ("rail track", 10, 255), ("building", 11, 2), ("wall", 12, 3), ("fence", 13, 4),
    ("guard rail", 14, 255), ("bridge", 15, 255), ("tunnel", 16, 255), ("pole", 17, 5), ("polegroup", 18, 255),
    ("traffic light", 19, 6), ("traffic sign", 20, 7), ("vegetation", 21, 8), ("terrain", 22, 9),
    ("sky", 23, 10), ("person", 24, 11), ("rider", 25, 12), ("car", 26, 13), ("truck", 27, 14), ("bus", 28, 15),
    ("caravan", 29, 255), ("trailer", 30, 255), ("train", 31, 16), ("motorcycle", 32, 17), ("bicycle", 33, 18),
)
CITYSCAPES_ID_TO_TRAIN_ID = {label_id: train_id for _, label_id, train_id in CITYSCAPES_LABEL_IDS}
CITYSCAPES_CLASSES = tuple(name for name, _, train_id in sorted(
    (entry for entry in CITYSCAPES_LABEL_IDS if entry[2] != 255), key=lambda entry: entry[2]))
CITYSCAPES_PALETTE = np.array(
    [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
     [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0],
     [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]],
    dtype=np.uint8,
)

# objectInfo150 of the MIT SceneParsing benchmark, in mask-value order 1..150.
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher",
    "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier",
    "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)


def distinct_palette(num_classes, seed=0):
    """Deterministic, well-spread display colours for datasets without an official palette.

    Hues step by the golden ratio with alternating saturation/value levels, so neighbouring class indices get
    clearly different colours.

    Returns:
        uint8 array [num_classes, 3].
    """
    import colorsys

    colours = []
    for k in range(num_classes):
        hue = (seed * 0.1 + k * 0.618033988749895) % 1.0
        saturation = (0.95, 0.65, 0.8)[k % 3]
        value = (0.95, 0.75, 0.55)[(k // 3) % 3]
        colours.append(colorsys.hsv_to_rgb(hue, saturation, value))
    return (np.asarray(colours) * 255).round().astype(np.uint8).reshape(num_classes, 3)


# Not the benchmark's own colours: a generated palette (the official one is only for display as well).
ADE20K_PALETTE = distinct_palette(len(ADE20K_CLASSES))
