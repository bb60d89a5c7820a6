"""Data for kerasseg: readers, the synthetic shapes set, augmentation pipelines and class weights.

Every reader yields `(image, label)` pairs: image float32 [H, W, 3] RGB with values in [0, 255] (not scaled:
models normalise internally) and label int32 [H, W] with `IGNORE_CLASS` (255) marking pixels to ignore.

Readers: `camvid_dataset`, `voc_dataset`, `cityscapes_dataset`, `ade20k_dataset` (or `load_dataset(name, root,
split)`), `folder_dataset` (folders / list files, index or colour masks), `tfrecord_dataset` (shards written by
`write_tfrecords`). Label mappings are documented in `kerasseg.data.classes` and each reader's module.
"""
IGNORE_CLASS = 255

from kerasseg.data.classes import (ADE20K_CLASSES, ADE20K_PALETTE, CAMVID_CLASSES, CAMVID_PALETTE,  # noqa: E402
                                   CITYSCAPES_CLASSES, CITYSCAPES_ID_TO_TRAIN_ID, CITYSCAPES_PALETTE, VOC_CLASSES,
                                   VOC_PALETTE, voc_colormap)
from kerasseg.data.class_weights import (PixelStatistics, class_counts, class_frequencies,  # noqa: E402
                                         enet_class_weights, median_frequency_weights, pixel_statistics)
from kerasseg.data.decode import LabelMap, MaskFormat, SkippedSamples  # noqa: E402
from kerasseg.data.folder import folder_dataset  # noqa: E402
from kerasseg.data.pipeline import (augment_sample, eval_pipeline, pad_to_multiple_of,  # noqa: E402
                                    random_scale_crop_flip, train_pipeline)
from kerasseg.data.augment import PHOTOMETRIC_DEFAULTS, photometric_jitter, random_rotation  # noqa: E402
from kerasseg.data.shapes import SHAPES_CLASSES, SHAPES_PALETTE, shapes_dataset  # noqa: E402
from kerasseg.data.camvid import camvid_dataset  # noqa: E402
from kerasseg.data.voc import voc_dataset  # noqa: E402
from kerasseg.data.cityscapes import cityscapes_dataset  # noqa: E402
from kerasseg.data.ade20k import ade20k_dataset  # noqa: E402
from kerasseg.data.tfrecord import tfrecord_dataset, write_tfrecords  # noqa: E402
from kerasseg.data.catalog import DATASETS, DatasetInfo, dataset_info, load_dataset  # noqa: E402

__all__ = [
    "ADE20K_CLASSES", "ADE20K_PALETTE", "CAMVID_CLASSES", "CAMVID_PALETTE", "CITYSCAPES_CLASSES",
    "CITYSCAPES_ID_TO_TRAIN_ID", "CITYSCAPES_PALETTE", "DATASETS", "DatasetInfo", "IGNORE_CLASS", "LabelMap",
    "MaskFormat", "PHOTOMETRIC_DEFAULTS", "PixelStatistics", "SHAPES_CLASSES", "SHAPES_PALETTE", "SkippedSamples",
    "VOC_CLASSES", "VOC_PALETTE", "ade20k_dataset", "augment_sample", "camvid_dataset", "cityscapes_dataset",
    "class_counts", "class_frequencies", "dataset_info", "enet_class_weights", "eval_pipeline", "folder_dataset",
    "load_dataset", "median_frequency_weights", "pad_to_multiple_of", "photometric_jitter", "pixel_statistics",
    "random_rotation", "random_scale_crop_flip", "shapes_dataset", "tfrecord_dataset", "train_pipeline",
    "voc_colormap", "voc_dataset", "write_tfrecords",
]
